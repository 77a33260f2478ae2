-- lib/tpl.lua: CUDA text with Lua in it.
--
-- In a template text
--   ${expr}   is replaced by the value of the Lua expression expr (no '}' inside expr), and
--   a line whose first non-blank character is '@' is a Lua statement: loops, ifs, locals.
-- Line n of the text is line n of the generated chunk, so an error inside a template text
-- names the line it is on (counted from the start of the text).
local tpl = {}

local function show(v)
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^53 then
    return string.format("%d", math.tointeger(v))
  end
  return tostring(v)
end

-- Turns a template text into Lua source that appends its pieces to _O.
local function translate(text)
  local code = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local stmt = line:match("^%s*@(.*)$")
    if stmt then
      code[#code + 1] = stmt
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

-- Renders text with the names in env visible (and the safe globals behind them).
-- chunkname names the text in error messages, e.g. "=monarch_fp32.lua kernel text".
function tpl.render(text, env, chunkname)
  local out = {}
  local scope = setmetatable({ _O = out, _S = show }, {
    __index = function(_, k)
      local v = env[k]
      if v == nil then v = _G[k] end
      return v
    end,
  })
  local chunk, err = load(translate(text), chunkname or "=template text", "t", scope)
  if not chunk then error(err, 0) end
  chunk()
  return table.concat(out)
end

return tpl
