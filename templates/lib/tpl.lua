-- lib/tpl.lua: CUDA text with Lua in it.
--
-- In a template text
--   ${expr}   is replaced by the value of the Lua expression expr (no '}' inside expr), and
--   a line whose first non-blank character is '@' is a Lua statement: loops, ifs, locals.
-- A line that holds nothing but white space and one ${expr} (whose expr may hold braces, as
-- a table constructor does) puts every line of a multi-line value at that line's indentation,
-- except empty lines and preprocessor lines ('#'), which stay at column 0 as the texts write
-- them. So a piece of CUDA can be written once, at column 0, and placed at any depth.
-- Line n of the text is line n of the generated chunk, so an error inside a template text
-- names the line it is on (counted from the start of the text).
--
-- Pieces: tpl.piece(text, chunkname, names) is a text to be rendered inside other texts by
-- `${include(piece, args)}` on a line of its own. It sees the names in args, then its own
-- names (e.g. the other pieces of its module), then those of the text that includes it, so
-- one environment built by a template's emit() reaches every piece. A piece's text ends at
-- its last line: the newline that ends it is not an extra empty line.
local tpl = {}

local function show(v)
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^53 then
    return string.format("%d", math.tointeger(v))
  end
  return tostring(v)
end

-- v's text with every line put at indent, empty and preprocessor lines left alone.
local function indented(indent, v)
  local s = show(v)
  if indent == "" then return s end
  local out = ("\n" .. s):gsub("\n([^\n#])", "\n" .. indent .. "%1")
  return out:sub(2)
end

-- Turns a template text into Lua source that appends its pieces to _O.
local function translate(text)
  local code = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local stmt = line:match("^%s*@(.*)$")
    local indent, whole = line:match("^(%s*)%${(.*)}$")
    if whole and whole:find("${", 1, true) then whole = nil end
    if stmt then
      code[#code + 1] = stmt
    elseif whole then
      code[#code + 1] = string.format("_O[#_O+1]=_I(%q, %s)..\"\\n\"", indent, whole)
    else
      local parts, pos = {}, 1
      while true do
        local s = line:find("${", pos, true)
        if not s then break end
        local e = line:find("}", s + 2, true)
        if not e then error("unclosed ${ in template line: " .. line, 0) end
        parts[#parts + 1] = string.format("%q", line:sub(pos, s - 1))
        parts[#parts + 1] = "_S(" .. line:sub(s + 2, e - 1) .. ")"
        pos = e + 1
      end
      parts[#parts + 1] = string.format("%q", line:sub(pos))
      parts[#parts + 1] = '"\\n"'
      code[#code + 1] = "_O[#_O+1]=" .. table.concat(parts, "..")
    end
  end
  return table.concat(code, "\n")
end

local render

-- The scope a text runs in: its output, the helpers, then the lookup chain.
local function scope(out, lookup)
  local s = { _O = out, _S = show, _I = indented }
  s.include = function(piece, args)
    assert(type(piece) == "table" and piece.text, "include() takes a piece made by tpl.piece")
    args = args or {}
    local names = piece.names or {}
    local text = render(piece.text, function(k)
      local v = args[k]
      if v == nil then v = names[k] end
      if v == nil then v = lookup(k) end
      return v
    end, piece.chunkname)
    return (text:gsub("\n$", ""))
  end
  return setmetatable(s, { __index = function(_, k) return lookup(k) end })
end

render = function(text, lookup, chunkname)
  local out = {}
  local chunk, err = load(translate(text), chunkname or "=template text", "t", scope(out, lookup))
  if not chunk then error(err, 0) end
  chunk()
  return table.concat(out)
end

-- Renders text with the names in env visible (and the safe globals behind them).
-- chunkname names the text in error messages, e.g. "=monarch_fp32.lua kernel text".
function tpl.render(text, env, chunkname)
  return render(text, function(k)
    local v = env[k]
    if v == nil then v = _G[k] end
    return v
  end, chunkname)
end

-- A piece of text for include(); names: what it sees beside the includer's names.
function tpl.piece(text, chunkname, names)
  return { text = (text:gsub("\n$", "")), chunkname = chunkname, names = names }
end

return tpl
