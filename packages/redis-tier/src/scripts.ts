import { createHash } from 'node:crypto'
import type { ItemRecord } from '@sync-engine/core'
import { packDocuments } from './codec.js'

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
 * `head(k)`: version, timestamp and state of the item document at `k`, or nil when `k` holds none
 * (absent, garbage, another type). A string is read through `GETRANGE 0 255` only: the header comes
 * first and is at most ~150 bytes, so a large payload is never copied. The common state (no `"` or
 * `\` in it) is matched directly; an escaped one is cut out and decoded with cjson. A RedisJSON
 * document is read through `JSON.GET k version timestamp state`.
 */
const HEAD = `
local function head(k)
  local h = redis.pcall('GETRANGE', k, 0, 255)
  if type(h) == 'table' then
    if redis.call('TYPE', k)['ok'] ~= 'ReJSON-RL' then return nil end
    local ok, d = pcall(function() return cjson.decode(redis.call('JSON.GET', k, 'version', 'timestamp', 'state')) end)
    if not ok or type(d) ~= 'table' or type(d.version) ~= 'number' or type(d.timestamp) ~= 'number'
      or type(d.state) ~= 'string' then return nil end
    return d.version, d.timestamp, d.state
  end
  local v, ts, s = string.match(h, '^{"version":(%d+),"timestamp":(%d+),"state":"([^"\\\\]*)"')
  if v then return tonumber(v), tonumber(ts), s end
  local p
  v, ts, p = string.match(h, '^{"version":(%d+),"timestamp":(%d+),"state":()"')
  if not p then return nil end
  local i = p + 1
  while true do
    local c = string.byte(h, i)
    if c == nil then return nil end
    if c == 92 then i = i + 2 elseif c == 34 then break else i = i + 1 end
  end
  local ok, state = pcall(cjson.decode, string.sub(h, p, i))
  if not ok or type(state) ~= 'string' then return nil end
  return tonumber(v), tonumber(ts), state
end
`

/**
 * The guarded write (SPEC §5.1). KEYS: item keys, each at most once per call. ARGV[1]: 'p' (put) or
 * 'd' (delete); ARGV[2]: the state-set key prefix, or '' when the caller maintains the state sets
 * itself (Redis Cluster: they live in other slots); ARGV[3]: TTL in seconds (0: none); ARGV[4]: byte
 * length of the item key prefix (key minus prefix = id, the set member). Then, for a put, what
 * `putArguments` packs: ARGV[5] one 23-byte record per key (`struct` '<I4ddHB': document byte
 * length, version, timestamp, state number, kind 0 string / 1 RedisJSON document); ARGV[6] the
 * call's distinct states, one per line; ARGV[7] the documents back to back. So a put costs one
 * struct.unpack per key, and a document is cut out of ARGV[7] only when it is written.
 *
 * A put writes only when the stored (version, timestamp) is not newer; a delete removes the key.
 * Strings without TTL go out in one MSET, and each state set gets one ZREM and one ZADD per call.
 * Returns { statuses } — one character per key, '1' written / existed, '0' stale / absent — and,
 * when ARGV[2] is '', the state each key held before (nil for none) after it.
 */
export const MUTATE = new LuaScript(
  'mutate',
  `${HEAD}
local put, sets, ttl, cut = ARGV[1] == 'p', ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local meta, states, docs, at = ARGV[5], {}, ARGV[7], 1
if put then for s in string.gmatch(ARGV[6], '[^\\n]+') do states[#states + 1] = s end end
local sub, call, record = string.sub, redis.call, struct.unpack
local status, olds, mset, adds, rems = {}, {}, {}, {}, {}
local function member(map, state, k)
  local list = map[state]
  if list then list[#list + 1] = sub(k, cut + 1) else map[state] = {sub(k, cut + 1)} end
end
for i, k in ipairs(KEYS) do
  local v, ts, old = head(k)
  local done = '0'
  if not put then
    if call('UNLINK', k) == 1 then done = '1' end
    if old and sets ~= '' then member(rems, old, k) end
  else
    local len, nv, nts, s, kind = record('<I4ddHB', meta, i * 23 - 22)
    local from = at
    at = at + len
    if v == nil or nv > v or (nv == v and nts >= ts) then
      done = '1'
      local doc, state = sub(docs, from, at - 1), states[s]
      if kind == 1 then
        if call('TYPE', k)['ok'] ~= 'ReJSON-RL' then call('UNLINK', k) end
        call('JSON.SET', k, '$', doc)
        if ttl > 0 then call('EXPIRE', k, ttl) else call('PERSIST', k) end
      elseif ttl > 0 then
        call('SET', k, doc, 'EX', ttl)
      else
        mset[#mset + 1] = k
        mset[#mset + 1] = doc
      end
      if sets ~= '' then
        if old and old ~= state then member(rems, old, k) end
        member(adds, state, k)
      end
    end
  end
  status[i] = done
  olds[i + 1] = old or false
end
if #mset > 0 then call('MSET', unpack(mset)) end
for state, ids in pairs(rems) do call('ZREM', sets .. state, unpack(ids)) end
for state, ids in pairs(adds) do
  local args = {}
  for j, id in ipairs(ids) do
    args[2 * j - 1] = 0
    args[2 * j] = id
  end
  call('ZADD', sets .. state, unpack(args))
end
if sets ~= '' then return { table.concat(status) } end
olds[1] = table.concat(status)
return olds
`,
)

const META_BYTES = 23

/**
 * ARGV[5..7] of a MUTATE put (see above) for `records`, in KEYS order; `json(i)`: whether record `i`
 * goes in as a RedisJSON document.
 */
export function putArguments(
  records: readonly ItemRecord[],
  json: (i: number) => boolean,
): [meta: Buffer, states: string, docs: Buffer] {
  const { bytes, lengths } = packDocuments(records)
  const meta = Buffer.allocUnsafe(records.length * META_BYTES)
  const numbers = new Map<string, number>()
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    let state = numbers.get(record.state)
    if (state === undefined) {
      state = numbers.size + 1
      numbers.set(record.state, state)
    }
    const at = i * META_BYTES
    meta.writeUInt32LE(lengths[i]!, at)
    meta.writeDoubleLE(record.version, at + 4)
    meta.writeDoubleLE(record.updatedAt, at + 12)
    meta.writeUInt16LE(state, at + 20)
    meta[at + 22] = json(i) ? 1 : 0
  }
  return [meta, [...numbers.keys()].join('\n'), bytes]
}

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
    local v, ts, s = head(k)
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
