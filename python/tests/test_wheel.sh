#!/usr/bin/env bash
# test_wheel: the Python package builds and installs from the source tree (pyproject.toml,
# scikit-build-core), CPU only. In a temporary venv: `pip install SOURCE_DIR` (timed), the
# package imports and holds lib/libfftconv.so (which ctypes loads and whose libraries all
# resolve) and bin/fftconv-tune, bin/fftconv-cache (which run); then `pip wheel` gives one
# py3-none-linux_* wheel that holds the package and nothing else.
#   python/tests/test_wheel.sh [SOURCE_DIR]
# SOURCE_DIR defaults to this checkout. PYTHON picks the interpreter (python3);
# CMAKE_BUILD_PARALLEL_LEVEL the build's jobs (2). pip fetches scikit-build-core from its
# index or find-links (the build is isolated); the build directory is a temporary one, so
# this builds from scratch and leaves the checkout's build/ alone. Exits non-zero on any failure.
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
py=${PYTHON:-python3}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
export PIP_DISABLE_PIP_VERSION_CHECK=1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "test_wheel: FAIL: $*" >&2; exit 1; }
step() { echo "test_wheel: $*"; }

"$py" -m venv "$t/venv" || fail "$py -m venv failed"
vpy=$t/venv/bin/python

step "pip install $src (CMAKE_BUILD_PARALLEL_LEVEL=$CMAKE_BUILD_PARALLEL_LEVEL)"
start=$(date +%s.%N)
"$vpy" -m pip install --config-settings=build-dir="$t/build" "$src" > "$t/install.log" 2>&1 ||
  { tail -n 60 "$t/install.log"; fail "pip install failed (log above)"; }
end=$(date +%s.%N)
install_s=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
step "install took ${install_s} s"

# The package's directory and what it holds; ctypes loads the library (no GPU needed: libcuda
# and NVRTC are loaded on first use).
(cd "$t" && "$vpy" - "$t/pkgdir" <<'EOF'
import ctypes, os, sys
import fftconv
d = os.path.dirname(fftconv.__file__)
lib, bindir = os.listdir(os.path.join(d, "lib")), os.listdir(os.path.join(d, "bin"))
print("test_wheel: fftconv/ %s, lib/ %s, bin/ %s" % (sorted(os.listdir(d)), sorted(lib), sorted(bindir)))
# the package finds its own copy of the library (no FFTCONV_LIB) and answers sizes with no GPU
os.environ.pop("FFTCONV_LIB", None)
print("test_wheel: sizes", fftconv.problem_sizes(2, 3, 1000, pre=True, post=True))
if sorted(lib) != ["libfftconv.so"]:
    sys.exit("fftconv/lib holds %s, not libfftconv.so alone" % lib)
if sorted(bindir) != ["fftconv-cache", "fftconv-tune"]:
    sys.exit("fftconv/bin holds %s, not fftconv-cache and fftconv-tune" % bindir)
ctypes.CDLL(os.path.join(d, "lib", "libfftconv.so"))
open(sys.argv[1], "w").write(d)
EOF
) || fail "the installed package is not as it should be (above)"
pkg=$(cat "$t/pkgdir")
step "package at $pkg"

ldd "$pkg/lib/libfftconv.so" > "$t/ldd.txt" || { cat "$t/ldd.txt"; fail "ldd libfftconv.so failed"; }
cat "$t/ldd.txt"
if grep -q "not found" "$t/ldd.txt"; then fail "libfftconv.so: a library is not found"; fi
for tool in fftconv-tune fftconv-cache; do
  [ -x "$pkg/bin/$tool" ] || fail "bin/$tool is not executable"
  "$pkg/bin/$tool" --help > "$t/$tool.help" 2>&1 || { cat "$t/$tool.help"; fail "$tool --help failed"; }
  grep -q "^usage: $tool" "$t/$tool.help" || { cat "$t/$tool.help"; fail "$tool --help: no usage line"; }
done
head -n 3 "$t/fftconv-tune.help"

step "pip wheel $src"
"$vpy" -m pip wheel --no-deps --config-settings=build-dir="$t/build" -w "$t/wheels" "$src" \
  > "$t/wheel.log" 2>&1 || { tail -n 60 "$t/wheel.log"; fail "pip wheel failed (log above)"; }
whl=("$t"/wheels/*.whl)
[ ${#whl[@]} -eq 1 ] || fail "pip wheel made ${#whl[@]} wheels: ${whl[*]}"
"$vpy" - "${whl[0]}" <<'EOF' || fail "the wheel is not as it should be (above)"
import os, re, sys, zipfile
path = sys.argv[1]
name = os.path.basename(path)
print("test_wheel: wheel", name)
m = re.fullmatch(r"fftconv-([^-]+)-py3-none-linux_[a-z0-9_]+\.whl", name)
if not m:
    sys.exit("wheel %s is not tagged py3-none-linux_*" % name)
info = "fftconv-%s.dist-info/" % m.group(1)
names = zipfile.ZipFile(path).namelist()
for n in names:
    print("  " + n)
stray = [n for n in names if not (n.startswith("fftconv/") or n.startswith(info))]
if stray:
    sys.exit("files outside the package: %s" % stray)
need = ["fftconv/__init__.py", "fftconv/lib/libfftconv.so", "fftconv/bin/fftconv-tune",
        "fftconv/bin/fftconv-cache"]
missing = [n for n in need if n not in names]
if missing:
    sys.exit("missing from the wheel: %s" % missing)
EOF
step "PASS (install ${install_s} s)"
