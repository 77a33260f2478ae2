#!/bin/sh
# test_install: cmake --install into a temporary prefix, then a consumer program built
# against it both ways: through the CMake package (find_package(fftconv): the static
# fftconv::fftconv and the shared fftconv::fftconv_shared) and through pkg-config
# (fftconv.pc, the shared library), and the same for the runtime-only library
# (fftconv::fftconv_rt, fftconv::fftconv_rt_shared, fftconv_rt.pc); each is run and must print
# what the library says.
#   tests/test_install.sh BUILD_DIR SOURCE_DIR LIBDIR C_COMPILER [CFLAGS]
# CFLAGS (compile and link) are the sanitizer flags of a -DFFTCONV_SANITIZE=ON build, whose
# installed libraries need the sanitizer runtimes linked into the consumer.
set -eu
b=$1 src=$2 libdir=$3 cc=$4 extra=${5:-}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "test_install: $*"; exit 1; }
cmake --install "$b" --prefix "$t/prefix" > "$t/install.log" || { cat "$t/install.log"; fail "install failed"; }
for f in include/fftconv.h "$libdir/libfftconv.a" "$libdir/libfftconv.so" bin/fftconv-tune \
         bin/fftconv-cache "$libdir/cmake/fftconv/fftconvConfig.cmake" "$libdir/pkgconfig/fftconv.pc" \
         "$libdir/libfftconv_rt.a" "$libdir/libfftconv_rt.so" "$libdir/pkgconfig/fftconv_rt.pc"; do
  [ -e "$t/prefix/$f" ] || fail "$f was not installed"
done
check() { # program output-file
  "$1" > "$2" 2>&1 || { cat "$2"; fail "$1 failed"; }
  grep -q "^fft size 4194304$" "$2" || { cat "$2"; fail "$1: no fft size line"; }
  grep -q "^refused: seqlen: 8388608 is not supported in circular mode (a power of two from 256 to 4194304; up to 2^40 with filter_len at most 64)$" "$2" ||
    { cat "$2"; fail "$1: no refusal line"; }
  grep -q "^context: " "$2" || { cat "$2"; fail "$1: no context line"; }
}
cmake -S "$src/tests/install" -B "$t/cm" -DCMAKE_PREFIX_PATH="$t/prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" > "$t/configure.log" 2>&1 || { cat "$t/configure.log"; fail "find_package(fftconv) failed"; }
cmake --build "$t/cm" > "$t/build.log" 2>&1 || { cat "$t/build.log"; fail "the CMake consumer did not build"; }
check "$t/cm/consumer_static" "$t/static.out"
check "$t/cm/consumer_shared" "$t/shared.out"
check "$t/cm/consumer_rt_static" "$t/rt_static.out"
check "$t/cm/consumer_rt_shared" "$t/rt_shared.out"
export PKG_CONFIG_PATH="$t/prefix/$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs fftconv) || fail "pkg-config does not know fftconv"
# shellcheck disable=SC2086
"$cc" $extra -o "$t/pc_consumer" "$src/tests/install/consumer.c" $flags || fail "the pkg-config consumer did not build"
LD_LIBRARY_PATH="$t/prefix/$libdir" check "$t/pc_consumer" "$t/pc.out"
flags=$(pkg-config --cflags --libs fftconv_rt) || fail "pkg-config does not know fftconv_rt"
# shellcheck disable=SC2086
"$cc" $extra -o "$t/pc_rt_consumer" "$src/tests/install/consumer.c" $flags || fail "the pkg-config fftconv_rt consumer did not build"
LD_LIBRARY_PATH="$t/prefix/$libdir" check "$t/pc_rt_consumer" "$t/pc_rt.out"
echo "test_install: installed, built and ran through find_package (static, shared; libfftconv and libfftconv_rt) and pkg-config (fftconv, fftconv_rt)"
cat "$t/static.out"
