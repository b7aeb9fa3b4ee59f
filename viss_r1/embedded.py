"""The embedded default: what ``dagster job execute -j full_viss_r1`` runs with no config.

Synthetic clips (112 px, 32 frames at 8 fps) sampled at 4 fps into 16 frames of 112×112 — small
enough for a tiny model on two CPU cores, long enough for every pretext task (shuffle needs
4 segments of whole temporal patches). The GPU recipe's values live in infra/configs/.
"""

from viss_r1.video.sampling import FrameSampling

EMBEDDED_SAMPLING = FrameSampling(fps=4.0, min_frames=4, max_frames=16, min_pixels=56 * 56, max_pixels=112 * 112)
