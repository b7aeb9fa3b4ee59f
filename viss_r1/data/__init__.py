"""Data plane: Video-R1 records, the frame cache and pretext-sample tables."""
