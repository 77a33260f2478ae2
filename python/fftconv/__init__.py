"""fftconv: long FFT convolutions on NVIDIA GPUs."""
