-- lib/io.lua: loads and stores of the I/O dtypes as fp32, with no CUDA headers (NVRTC
-- builds these kernels with nothing on its include path).
local io_ = {}

local ctype = { fp32 = "float", fp16 = "unsigned short", bf16 = "unsigned short" }

function io_.ctype(dtype) return assert(ctype[dtype], "unknown dtype " .. tostring(dtype)) end

-- Device functions ld(p, i) -> float and st(p, i, float) for dtype.
function io_.functions(dtype)
  local t = io_.ctype(dtype)
  local ld, st
  if dtype == "fp32" then
    ld = "return p[i];"
    st = "p[i] = v;"
  elseif dtype == "fp16" then
    ld = 'float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(p[i])); return f;'
    st = 'unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v)); p[i] = h;'
  else
    ld = "return __uint_as_float(((unsigned)p[i]) << 16);"
    st = 'unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v)); p[i] = h;'
  end
  return string.format([[
typedef %s io_t;
static __device__ __forceinline__ float ld(const io_t *p, long long i) { %s }
static __device__ __forceinline__ void st(io_t *p, long long i, float v) { %s }]], t, ld, st)
end

return io_
