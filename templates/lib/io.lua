-- lib/io.lua: loads and stores of the I/O dtypes as fp32, with no CUDA headers (NVRTC
-- builds these kernels with nothing on its include path).
local io_ = {}

local ctype = { fp32 = "float", fp16 = "unsigned short", bf16 = "unsigned short" }

function io_.ctype(dtype) return assert(ctype[dtype], "unknown dtype " .. tostring(dtype)) end

-- The body of a function returning the I/O value x (an expression of type io_t) as fp32.
local function to_float(dtype, x)
  if dtype == "fp32" then return "return " .. x .. ";" end
  if dtype == "fp16" then
    return 'float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(' .. x .. ')); return f;'
  end
  return "return __uint_as_float(((unsigned)" .. x .. ") << 16);"
end

-- Device functions ld(p, i) -> float and st(p, i, float) for dtype.
function io_.functions(dtype)
  local t = io_.ctype(dtype)
  local st
  if dtype == "fp32" then
    st = "p[i] = v;"
  elseif dtype == "fp16" then
    st = 'unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v)); p[i] = h;'
  else
    st = 'unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v)); p[i] = h;'
  end
  return string.format([[
typedef %s io_t;
static __device__ __forceinline__ float ld(const io_t *p, long long i) { %s }
static __device__ __forceinline__ void st(io_t *p, long long i, float v) { %s }]], t,
    to_float(dtype, "p[i]"), st)
end

-- The device function cvt(h) -> float: an I/O value already loaded, as fp32 (ld without the
-- load), for kernels that issue their loads before they convert them.
function io_.cvt(dtype)
  io_.ctype(dtype)
  return "static __device__ __forceinline__ float cvt(io_t h) { " .. to_float(dtype, "h") .. " }"
end

return io_
