"""python -m fftconv.tune [fftconv-tune options]: the packaged fftconv-tune (run once on a new
GPU; with no options it tunes the default set into the default cache, which fft_conv's plans
read). --help lists the options."""
import os
import sys

from ._capi import package_dir


def main(argv=None):
    exe = os.environ.get("FFTCONV_TUNE") or os.path.join(package_dir(), "bin", "fftconv-tune")
    if not os.path.exists(exe):
        sys.exit(f"fftconv.tune: {exe}: no such file (install the package with pip, which "
                 "carries fftconv-tune, or set FFTCONV_TUNE to a built one)")
    args = sys.argv[1:] if argv is None else argv
    os.execv(exe, [exe] + list(args))


if __name__ == "__main__":
    main()
