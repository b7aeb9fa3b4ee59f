"""Data plane: Video-R1 records, the frame cache, pretext-sample tables and the requests a model
is asked from them (``requests``). It imports no model, reward or stage."""
