"""Video data: the native clip loader and the PyAV reference decoder."""
