import { createHash } from 'node:crypto'
import type { ItemRecord } from '@sync-engine/core'
import { packDocuments } from './codec.js'
import type { Arg } from './connection.js'

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
 * (absent, garbage, another type). A string is read through `GETRANGE 0 95`, and `0 255` only when
 * its header did not fit (a long state): the header comes first and is at most 131 bytes, so a
 * payload is never copied — and Redis' Lua hashes every byte of every string it makes, so the usual
 * read is kept short. Numeric arguments are passed as strings (a Lua number is formatted with
 * sprintf on each call). The common state (no `"` or `\` in it) is matched directly; an escaped one
 * is cut out and decoded with cjson. A RedisJSON document is read through
 * `JSON.GET k version timestamp state`.
 */
const HEAD = `
local function parse(h)
  local v, ts, s = string.match(h, '^{"version":(%d+),"timestamp":(%d+),"state":"([^"\\\\]*)"')
  if v then return v + 0, ts + 0, s end
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
  return v + 0, ts + 0, state
end
local function head(k)
  local h = redis.pcall('GETRANGE', k, '0', '95')
  if type(h) == 'table' then
    if redis.call('TYPE', k)['ok'] ~= 'ReJSON-RL' then return nil end
    local ok, d = pcall(function() return cjson.decode(redis.call('JSON.GET', k, 'version', 'timestamp', 'state')) end)
    if not ok or type(d) ~= 'table' or type(d.version) ~= 'number' or type(d.timestamp) ~= 'number'
      or type(d.state) ~= 'string' then return nil end
    return d.version, d.timestamp, d.state
  end
  local v, ts, s = parse(h)
  if v == nil and #h == 96 then return parse(redis.call('GETRANGE', k, '0', '255')) end
  return v, ts, s
end
`

/**
 * The guarded write (SPEC §5.1). KEYS: item keys, each at most once per call. ARGV[1]: 'p' (put) or
 * 'd' (delete); ARGV[2]: the state-set key prefix, or '' when the caller maintains the state sets
 * itself (Redis Cluster: they live in other slots); ARGV[3]: TTL in seconds (0: none); ARGV[4]: byte
 * length of the item key prefix (key minus prefix = id, the set member). Then, for a put, what
 * `putArguments` packs: ARGV[5] one 19-byte record per key (`struct` '<ddHB': version, timestamp,
 * state number, kind 0 string / 1 RedisJSON document); ARGV[6] the call's distinct states, one per
 * line; ARGV[6 + i] the document of KEYS[i]. So a put costs one struct.unpack per key besides its
 * document, and no number goes through Lua's number-to-string formatting.
 *
 * A put writes only when the stored (version, timestamp) is not newer; a delete removes the key.
 * Strings without TTL go out in one MSET, and each state set gets one ZREM and one ZADD per call.
 * Returns { statuses } — one character per key, '1' written / existed, '0' stale / absent — and,
 * when ARGV[2] is '', the state each key held before (nil for none) after it.
 */
export const MUTATE = new LuaScript(
  'mutate',
  `${HEAD}
local put, sets, ttl, cut = ARGV[1] == 'p', ARGV[2], ARGV[3], tonumber(ARGV[4])
local expires, meta, states = ttl ~= '0', ARGV[5], {}
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
    local nv, nts, s, kind = record('<ddHB', meta, i * 19 - 18)
    if v == nil or nv > v or (nv == v and nts >= ts) then
      done = '1'
      local doc, state = ARGV[6 + i], states[s]
      if kind == 1 then
        if call('TYPE', k)['ok'] ~= 'ReJSON-RL' then call('UNLINK', k) end
        call('JSON.SET', k, '$', doc)
        if expires then call('EXPIRE', k, ttl) else call('PERSIST', k) end
      elseif expires then
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
    args[2 * j - 1] = '0'
    args[2 * j] = id
  end
  call('ZADD', sets .. state, unpack(args))
end
if sets ~= '' then return { table.concat(status) } end
olds[1] = table.concat(status)
return olds
`,
)

const META_BYTES = 19

/**
 * ARGV[5…] of a MUTATE put (see above) for `records`, in KEYS order; `json(i)`: whether record `i`
 * goes in as a RedisJSON document.
 */
export function putArguments(records: readonly ItemRecord[], json: (i: number) => boolean): Arg[] {
  const { bytes, lengths } = packDocuments(records)
  const meta = Buffer.allocUnsafe(records.length * META_BYTES)
  const numbers = new Map<string, number>()
  const args: Arg[] = [meta, '']
  let from = 0
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    let state = numbers.get(record.state)
    if (state === undefined) {
      state = numbers.size + 1
      numbers.set(record.state, state)
    }
    const at = i * META_BYTES
    meta.writeDoubleLE(record.version, at)
    meta.writeDoubleLE(record.updatedAt, at + 8)
    meta.writeUInt16LE(state, at + 16)
    meta[at + 18] = json(i) ? 1 : 0
    args.push(bytes.subarray(from, from + lengths[i]!))
    from += lengths[i]!
  }
  args[1] = [...numbers.keys()].join('\n')
  return args
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

/**
 * Appends change entries to one stream (SPEC §10). KEYS[1]: the stream; ARGV[1]: its `MAXLEN ~`;
 * ARGV[2]: the entries packed back to back (`packChanges`): op (`B`, 0 PUT, 1 DEL), key (`<H`
 * length), hash (`<I4`), data (`<I4`, ignored for a DEL, which has no data field) and meta (`<I4`).
 * Each entry is its own `XADD … MAXLEN ~ n *`, in order — the same entries as pipelined XADDs, for
 * one command and one argument instead of one command and five arguments per entry (most of the cost
 * of a pipelined XADD is the client's). Answers the ids of the first and last entry appended: nothing
 * else can land between them (a script runs alone).
 */
export const APPEND_CHANGES = new LuaScript(
  'append-changes',
  `
local key, maxlen, blob, call, up = KEYS[1], ARGV[1], ARGV[2], redis.call, struct.unpack
local pos, first, last, op, id, hash, data, meta = 1
while pos <= #blob do
  op, id, hash, data, meta, pos = up('<BHc0I4c0I4c0I4c0', blob, pos)
  if op == 1 then
    last = call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'op', 'DEL', 'key', id, 'hash', hash, 'meta', meta)
  else
    last = call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'op', 'PUT', 'key', id, 'hash', hash, 'data', data,
      'meta', meta)
  end
  first = first or last
end
return { first, last }
`,
)

/**
 * Node writes of the Merkle mirror (see merkle-mirror.ts). KEYS: node keys, each at most once a call.
 * ARGV[1]: per key, in KEYS order (`packNodeWrites`): a flags byte (1: delete the node's fields,
 * 2: set them), then, when set, its hash (64 bytes), count (`B` length) and leaf flag (1 byte); the
 * child entries to delete (`<I4` count, then each segment with a `<H` length) and those to set
 * (`<I4` count, then each segment and its 64-byte hash). Deletes go first; long lists go in slices
 * of 1000 fields (Lua's stack holds about 8000). With ARGV[2..4] (before, after, the root's key; a
 * single server only: the root key is not among KEYS), the call writes only when the root's hash is
 * `before` or `after` (`-`: no root) and returns -1 otherwise; else it returns the number of keys.
 */
export const HASH_WRITES = new LuaScript(
  'hash-writes',
  `
local blob, call, up, unpack, pos = ARGV[1], redis.call, struct.unpack, unpack, 1
if ARGV[4] then
  local root = call('HGET', ARGV[4], 'hash') or '-'
  if root ~= ARGV[2] and root ~= ARGV[3] then return -1 end
end
local function flush(command, k, list)
  for s = 1, #list, 1000 do call(command, k, unpack(list, s, math.min(s + 999, #list))) end
end
for _, k in ipairs(KEYS) do
  local flags, n, segment, hash, count, leaf
  flags, n, pos = up('<BI4', blob, pos)
  local list = {}
  if flags % 2 == 1 then list = {'hash', 'count', 'leaf'} end
  for j = 1, n do
    segment, pos = up('<Hc0', blob, pos)
    list[#list + 1] = 'c:' .. segment
  end
  if #list > 0 then flush('HDEL', k, list) end
  list = {}
  if flags >= 2 then
    hash, count, leaf, pos = up('c64Bc0c1', blob, pos)
    list = {'hash', hash, 'count', count, 'leaf', leaf}
  end
  n, pos = up('<I4', blob, pos)
  for j = 1, n do
    segment, hash, pos = up('<Hc0c64', blob, pos)
    list[#list + 1] = 'c:' .. segment
    list[#list + 1] = hash
  end
  if #list > 0 then flush('HSET', k, list) end
end
return #KEYS
`,
)

export const SCRIPTS: readonly LuaScript[] = [MUTATE, READ, HASH_WRITES]
