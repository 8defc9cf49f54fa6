import { createHash } from 'node:crypto'

/** A Lua script run with EVALSHA (its SHA-1 computed here), falling back to EVAL on NOSCRIPT. */
export class LuaScript {
  readonly name: string
  readonly source: string
  readonly sha: string
  constructor(name: string, source: string) {
    this.name = name
    this.source = source
    this.sha = createHash('sha1').update(source).digest('hex')
  }
}

/**
 * `head(k)`: the type of key `k` and, when it holds an item document this tier wrote, its version,
 * timestamp and state. A plain string is read through `GETRANGE 0 255` only (the header comes first
 * and is at most ~150 bytes); a RedisJSON document through `JSON.GET k version timestamp state`.
 * Anything else (garbage, another type) answers with its type alone and counts as "no item".
 */
const HEAD = `
local function head(k)
  local t = redis.call('TYPE', k)['ok']
  if t == 'string' then
    local h = redis.call('GETRANGE', k, 0, 255)
    local v, ts, p = string.match(h, '^{"version":(%d+),"timestamp":(%d+),"state":()"')
    if not p then return t end
    local i = p + 1
    while true do
      local c = string.byte(h, i)
      if c == nil then return t end
      if c == 92 then i = i + 2 elseif c == 34 then break else i = i + 1 end
    end
    local ok, s = pcall(cjson.decode, string.sub(h, p, i))
    if not ok or type(s) ~= 'string' then return t end
    return t, tonumber(v), tonumber(ts), s
  elseif t == 'ReJSON-RL' then
    local ok, d = pcall(function() return cjson.decode(redis.call('JSON.GET', k, 'version', 'timestamp', 'state')) end)
    if not ok or type(d) ~= 'table' or type(d.version) ~= 'number' or type(d.timestamp) ~= 'number'
      or type(d.state) ~= 'string' then return t end
    return t, d.version, d.timestamp, d.state
  end
  return t
end
`

/**
 * The guarded write (SPEC §5.1). KEYS: item keys. ARGV[1]: the state-set key prefix, or '' when the
 * caller maintains the state sets itself (Redis Cluster: they live in other slots); ARGV[2]: TTL in
 * seconds (0: none); ARGV[3]: byte length of the item key prefix (key minus prefix = id, the set
 * member). Then 6 per key: op ('p' put, 'd' delete), version, timestamp, state, kind ('s' string,
 * 'j' RedisJSON document), value.
 *
 * A put writes only when the stored (version, timestamp) is not newer; a delete removes the key.
 * Returns 2 per key: 1 (written / existed) or 0 (stale / absent), and the state the key held before
 * (or nil).
 */
export const MUTATE = new LuaScript(
  'mutate',
  `${HEAD}
local sets, ttl, cut = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i, k in ipairs(KEYS) do
  local a = 3 + (i - 1) * 6
  local t, v, ts, old = head(k)
  local status = 0
  if ARGV[a + 1] == 'd' then
    if t ~= 'none' then
      redis.call('UNLINK', k)
      status = 1
    end
    if sets ~= '' and old then redis.call('ZREM', sets .. old, string.sub(k, cut + 1)) end
  else
    local nv, nts, state, kind, value = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
    if v == nil or nv > v or (nv == v and nts >= ts) then
      status = 1
      if kind == 'j' then
        if t ~= 'none' and t ~= 'ReJSON-RL' then redis.call('UNLINK', k) end
        redis.call('JSON.SET', k, '$', value)
        if ttl > 0 then redis.call('EXPIRE', k, ttl) else redis.call('PERSIST', k) end
      elseif ttl > 0 then
        redis.call('SET', k, value, 'EX', ttl)
      else
        redis.call('SET', k, value)
      end
      if sets ~= '' then
        local id = string.sub(k, cut + 1)
        if old and old ~= state then redis.call('ZREM', sets .. old, id) end
        redis.call('ZADD', sets .. state, 0, id)
      end
    end
  end
  out[2 * i - 1] = status
  out[2 * i] = old or false
end
return out
`,
)

/**
 * Reads of any key type. KEYS: item keys. ARGV[1] = 'state': each key's state tag (nil when it holds
 * no readable item); 'value': each key's {kind, value} — {'s', bytes} for a string, {'j', text} for a
 * RedisJSON document, {'x', type} for another type — or nil when absent.
 */
export const READ = new LuaScript(
  'read',
  `${HEAD}
local out = {}
for i, k in ipairs(KEYS) do
  if ARGV[1] == 'state' then
    local t, v, ts, s = head(k)
    out[i] = s or false
  else
    local t = redis.call('TYPE', k)['ok']
    if t == 'string' then out[i] = {'s', redis.call('GET', k)}
    elseif t == 'ReJSON-RL' then out[i] = {'j', redis.call('JSON.GET', k)}
    elseif t == 'none' then out[i] = false
    else out[i] = {'x', t} end
  end
end
return out
`,
)

export const SCRIPTS: readonly LuaScript[] = [MUTATE, READ]
