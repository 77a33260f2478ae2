-- json: canonical JSON for kernel parameter tables.
--
--   local json = require "lib.json"
--   json.encode(v) -> text   objects with keys in byte order, no spaces; a table whose keys
--                            are exactly 1..n is an array; an empty table is {}; integers (and
--                            floats with an exact integral value) print as integers, other
--                            floats with %.17g; json.null prints as null
--   json.decode(s) -> value  strict RFC 8259: objects, arrays, numbers (integers when
--                            integral), strings with escapes, true, false, null (json.null)
--
-- Parameters cross between C and Lua as this text, and the tuning database keys on it, so the
-- same table must always give the same bytes: hence the sorted keys and the fixed number format.
-- Errors say what was wrong and where: a path such as $.tile[2] for encode, a byte offset
-- (0-based) for decode.

local type, next, error, pcall, tostring, tonumber, rawequal, setmetatable =
  type, next, error, pcall, tostring, tonumber, rawequal, setmetatable
local mtype, tointeger, huge = math.type, math.tointeger, math.huge
local sbyte, schar, sfind, sfmt, ssub, sgsub = string.byte, string.char, string.find, string.format,
  string.sub, string.gsub
local concat, sort = table.concat, table.sort

local json = {}

-- Stands for JSON null (a Lua nil would leave a hole in an array or drop an object key).
json.null = setmetatable({}, {
  __name = "json.null",
  __tostring = function() return "null" end,
  __newindex = function() error("json.null is read-only", 2) end,
  __metatable = false,
})

local MAX_DEPTH = 100

---------------------------------------------------------------------------------------------
-- encode

-- Byte order, not the C library's strcoll, so the key order cannot depend on a host locale.
local function byte_less(a, b)
  local n = #a < #b and #a or #b
  for i = 1, n do
    local x, y = sbyte(a, i), sbyte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local escapes = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}
local function escape_char(c)
  return escapes[c] or sfmt("\\u%04x", sbyte(c))
end

local function encode_string(s)
  -- An explicit class: %c would follow the locale's iscntrl.
  return '"' .. sgsub(s, '[\0-\31\127"\\]', escape_char) .. '"'
end

local function encode_number(v, path)
  if mtype(v) == "integer" then return sfmt("%d", v) end
  if v ~= v or v == huge or v == -huge then
    error(sfmt("cannot encode a non-finite number (%s) at %s", tostring(v), path), 0)
  end
  local i = tointeger(v)
  if i then return sfmt("%d", i) end
  -- %.17g round-trips every double; a locale with a decimal comma must not leak in.
  return (sgsub(sfmt("%.17g", v), ",", "."))
end

local encode_value

local function encode_table(t, out, path, seen, depth)
  if seen[t] then error("cannot encode a table that contains itself at " .. path, 0) end
  if depth > MAX_DEPTH then error("nesting deeper than " .. MAX_DEPTH .. " at " .. path, 0) end
  seen[t] = true
  -- Raw iteration (next, not pairs): what is encoded is what the table holds.
  local count, maxint, strs = 0, 0, {}
  for k in next, t do
    count = count + 1
    if mtype(k) == "integer" and k >= 1 then
      if k > maxint then maxint = k end
    elseif type(k) == "string" then
      strs[#strs + 1] = k
    else
      error(sfmt("cannot encode a key of type %s (%s) at %s", type(k), tostring(k), path), 0)
    end
  end
  if #strs == 0 and count > 0 then
    if maxint ~= count then
      error(sfmt("cannot encode a sparse array (%d entries, largest index %d) at %s", count, maxint,
        path), 0)
    end
    out[#out + 1] = "["
    for i = 1, count do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, path .. "[" .. i .. "]", seen, depth + 1)
    end
    out[#out + 1] = "]"
  else
    if #strs ~= count then
      error("cannot encode a table with both string and integer keys at " .. path, 0)
    end
    sort(strs, byte_less)
    out[#out + 1] = "{"
    for i = 1, #strs do
      local k = strs[i]
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = encode_string(k)
      out[#out + 1] = ":"
      encode_value(t[k], out, path .. "." .. k, seen, depth + 1)
    end
    out[#out + 1] = "}"
  end
  seen[t] = nil
end

encode_value = function(v, out, path, seen, depth)
  local tv = type(v)
  if rawequal(v, json.null) then
    out[#out + 1] = "null"
  elseif tv == "table" then
    encode_table(v, out, path, seen, depth)
  elseif tv == "string" then
    out[#out + 1] = encode_string(v)
  elseif tv == "number" then
    out[#out + 1] = encode_number(v, path)
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  else
    error(sfmt("cannot encode a %s value at %s", tv, path), 0)
  end
end

function json.encode(v)
  local out = {}
  local ok, err = pcall(encode_value, v, out, "$", {}, 0)
  if not ok then error("json.encode: " .. tostring(err), 2) end
  return concat(out)
end

---------------------------------------------------------------------------------------------
-- decode

local simple_escapes = {
  ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t',
}

local function utf8_bytes(c)
  if c < 0x80 then return schar(c) end
  if c < 0x800 then return schar(0xc0 | (c >> 6), 0x80 | (c & 0x3f)) end
  if c < 0x10000 then
    return schar(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f))
  end
  return schar(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f),
    0x80 | (c & 0x3f))
end

local function decode_text(s)
  local pos, len = 1, #s

  local function fail(msg, at)
    error(sfmt("%s at offset %d", msg, (at or pos) - 1), 0)
  end

  local function skip()
    pos = sfind(s, "[^ \t\n\r]", pos) or len + 1
  end

  local function char_name(at)
    local b = sbyte(s, at)
    if not b then return "end of input" end
    if b < 32 or b > 126 then return sfmt("byte 0x%02x", b) end
    return "'" .. schar(b) .. "'"
  end

  local function digits(what)
    local _, j = sfind(s, "^[0-9]+", pos)
    if not j then fail("expected a digit " .. what .. ", got " .. char_name(pos)) end
    pos = j + 1
  end

  local function number()
    local start = pos
    if sbyte(s, pos) == 45 then pos = pos + 1 end -- '-'
    local b = sbyte(s, pos)
    if b == 48 then -- '0': no leading zeros
      pos = pos + 1
    elseif b and b >= 49 and b <= 57 then
      digits("")
    else
      fail("expected a digit, got " .. char_name(pos))
    end
    if sbyte(s, pos) == 46 then -- '.'
      pos = pos + 1
      digits("after '.'")
    end
    b = sbyte(s, pos)
    if b == 101 or b == 69 then -- 'e' 'E'
      pos = pos + 1
      b = sbyte(s, pos)
      if b == 43 or b == 45 then pos = pos + 1 end
      digits("in the exponent")
    end
    local v = tonumber(ssub(s, start, pos - 1))
    if not v or v ~= v or v == huge or v == -huge then fail("number out of range", start) end
    return tointeger(v) or v
  end

  local function hex4()
    local h = ssub(s, pos, pos + 3)
    if not sfind(h, "^[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]$") then
      fail("expected 4 hex digits after \\u")
    end
    pos = pos + 4
    return tonumber(h, 16)
  end

  local function str()
    local start = pos
    pos = pos + 1 -- the opening quote
    local parts = {}
    while true do
      local j = sfind(s, '[\0-\31"\\]', pos)
      if not j then fail("unterminated string", start) end
      parts[#parts + 1] = ssub(s, pos, j - 1)
      pos = j
      local c = ssub(s, j, j)
      if c == '"' then
        pos = j + 1
        return concat(parts)
      elseif c == "\\" then
        local e = ssub(s, j + 1, j + 1)
        if simple_escapes[e] then
          parts[#parts + 1] = simple_escapes[e]
          pos = j + 2
        elseif e == "u" then
          pos = j + 2
          local cp = hex4()
          if cp >= 0xdc00 and cp <= 0xdfff then
            fail("unpaired low surrogate", j)
          elseif cp >= 0xd800 and cp <= 0xdbff then
            if ssub(s, pos, pos + 1) ~= "\\u" then fail("unpaired high surrogate", j) end
            local at = pos
            pos = pos + 2
            local lo = hex4()
            if lo < 0xdc00 or lo > 0xdfff then fail("expected a low surrogate", at) end
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
          end
          parts[#parts + 1] = utf8_bytes(cp)
        else
          fail("invalid escape \\" .. (e == "" and "at end of input" or e), j)
        end
      else
        fail("unescaped control character in string", j)
      end
    end
  end

  local value

  local function literal(word, v)
    if ssub(s, pos, pos + #word - 1) ~= word then fail("unexpected " .. char_name(pos)) end
    pos = pos + #word
    return v
  end

  local function object(depth)
    local obj = {}
    pos = pos + 1
    skip()
    if sbyte(s, pos) == 125 then -- '}'
      pos = pos + 1
      return obj
    end
    while true do
      if sbyte(s, pos) ~= 34 then fail("expected a string key, got " .. char_name(pos)) end
      local at = pos
      local k = str()
      skip()
      if sbyte(s, pos) ~= 58 then fail("expected ':', got " .. char_name(pos)) end
      pos = pos + 1
      skip()
      local v = value(depth + 1)
      if obj[k] ~= nil then fail("duplicate key \"" .. k .. "\"", at) end
      obj[k] = v
      skip()
      local b = sbyte(s, pos)
      if b == 125 then
        pos = pos + 1
        return obj
      elseif b ~= 44 then
        fail("expected ',' or '}', got " .. char_name(pos))
      end
      pos = pos + 1
      skip()
    end
  end

  local function array(depth)
    local arr = {}
    pos = pos + 1
    skip()
    if sbyte(s, pos) == 93 then -- ']'
      pos = pos + 1
      return arr
    end
    while true do
      arr[#arr + 1] = value(depth + 1)
      skip()
      local b = sbyte(s, pos)
      if b == 93 then
        pos = pos + 1
        return arr
      elseif b ~= 44 then
        fail("expected ',' or ']', got " .. char_name(pos))
      end
      pos = pos + 1
      skip()
    end
  end

  value = function(depth)
    if depth > MAX_DEPTH then fail("nesting deeper than " .. MAX_DEPTH) end
    local b = sbyte(s, pos)
    if b == 123 then return object(depth)
    elseif b == 91 then return array(depth)
    elseif b == 34 then return str()
    elseif b == 45 or (b and b >= 48 and b <= 57) then return number()
    elseif b == 116 then return literal("true", true)
    elseif b == 102 then return literal("false", false)
    elseif b == 110 then return literal("null", json.null)
    end
    fail("unexpected " .. char_name(pos))
  end

  skip()
  local v = value(0)
  skip()
  if pos <= len then fail("unexpected trailing " .. char_name(pos)) end
  return v
end

function json.decode(s)
  if type(s) ~= "string" then error("json.decode: expected a string, got " .. type(s), 2) end
  local ok, v = pcall(decode_text, s)
  if not ok then error("json.decode: " .. tostring(v), 2) end
  return v
end

return json
