"""The embedded default: what ``dagster job execute -j full_viss_r1`` runs with no config.

Synthetic clips (112 px, 32 frames at 8 fps) sampled at 4 fps into 16 frames of 112×112 — small
enough for a tiny model on two CPU cores, long enough for every pretext task (shuffle needs
4 segments of whole temporal patches). The GPU recipe's values live in infra/configs/.
"""

from viss_r1.evaluate.config import EvalSettings
from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.tiny import TinyModelSpec
from viss_r1.train.config import GRPOSettings, OptimSettings
from viss_r1.video.sampling import FrameSampling

EMBEDDED_SAMPLING = FrameSampling(fps=4.0, min_frames=4, max_frames=16, min_pixels=56 * 56, max_pixels=112 * 112)

# The tiny model, its vision tower pretrained first to redraw what departs from each clip's background
# and how it moves (viss_r1.modeling.vision_pretraining; ≈50 s on two cores),
# as a real Qwen2.5-VL's tower comes pretrained. With the random tower a tiny language model
# trained on the synthetic questions answered from the text alone; with this one it reads the clip
# (README, "What the tiny model learns"; benchmarks/grounding_check.py). 600 steps, not 300: the
# warm-up then tells which shape moves far more often, and the SFT and ViSS-R1 models answer multiple
# choice at 2.05× chance on average against 1.82× (validation split, seeds 0 and 2: README, "The vision
# tower pretrained twice as long").
# Its closing format tags (</answer>, </think>, </transform>) are whole tokens; Qwen's regex would
# split them ("</", "answer", ">"). Chosen on 120 validation clips (seeds 0 and 2), where the SFT and
# ViSS-R1 models answered multiple choice at 2.43× chance with clean − blind +31.6 (split tags: 2.05×,
# +21.4) and Pretext-GRPO's stage I kept its reward spread; on the 120-clip eval split the same models
# read 1.79× / +12.0 and 1.71× / +7.5 (README, "Only the closing tags whole"). All six tags
# whole ("all") break that arm: the warm-up then opens the pretext answer with <answer> and stage I
# gets no reward spread (README, "The format tags as whole tokens").
EMBEDDED_TINY_MODEL = TinyModelSpec(vision_pretraining_steps=600, format_tags_as_tokens="closing")

# SSL-CoT SFT of the tiny model on two CPU cores, after the shared warm-up: a random-init model
# needs a far larger learning rate than the 7B recipe's 1e-6 (infra/configs/viss_r1_qwen2_5_vl_7b.yaml).
# Two epochs over three transform draws per clip (PretextUse.draws: each clip once under every video
# transform): a clip seen under one fixed transform lets the model memorise its label from the
# question text instead of looking. After one epoch the model still reads the clip worse in its new
# prompt than the warm-up did in its own; on the validation split a second epoch lifts the SFT and
# ViSS-R1 models of seeds 0 and 2 from 1.65-1.93x chance to 2.34-2.46x (README, "What the tiny model
# learns", "The SSL-CoT SFT trained twice as long"). At 1e-3 as the warm-up (below), in steps of 8: at
# 2e-3, or in steps of 4, the SFT unlearns part of what the warm-up read off the clip.
# Its vision tower (pretrained, EMBEDDED_TINY_MODEL) stays frozen: a random tower trained through the
# language-model loss collapses to a constant output and no answer can depend on the pixels
# (see viss_r1.train.policy).
# Frozen, its output for a clip is the same every time the clip comes round (the next epoch, another
# row of the clip, the 8 rollouts of a GRPO prompt): up to 512 MB of them are kept
# (viss_r1.modeling.vision_cache; a clip's 128 tokens take 64 kB), the same bits as computing them.
EMBEDDED_SFT = OptimSettings(
    num_train_epochs=2, learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.01,
    max_grad_norm=1.0, per_device_train_batch_size=8, gradient_accumulation_steps=1, bf16=False,
    activation_checkpointing=False, freeze_vision_tower=True, frozen_vision_cache_mb=512, save_steps=50, save_total_limit=2,
    logging_steps=5, seed=0,
)

# One SFT row in ten (every SFT stage: warm-up, SSL-CoT, plain CoT) is shown an empty clip — every
# frame its background colour — with a thought that says there is nothing to see and the row's answer
# as a guess (viss_r1.train.sft_data). Without them the tiny model, which never saw such a clip,
# broke the format on the blind probe (39 % format on the validation split), and clean − blind read
# that breakage as visual reliance (+26.8); with them the format holds (100 %) and clean − blind is
# what the pixels tell the model (+10.3; README, "What the tiny model learns"). The 7B recipe
# shows none (infra/configs/): its instruct model keeps the format.
EMBEDDED_EMPTY_CLIP_FRACTION = 0.1

# The SSL-CoT SFT's rows draw their transform here, so their thoughts are ours to write: the release's
# are the annotator's, written on the transformed clip. On, a row takes the reasoning its synthetic
# scene wrote for that view — what is on screen, then the clip undone ("On screen, the red square
# moves upward. Turned back upright, it moves to the right.": viss_r1.pretext.narration) — or else the
# transform's sentence before the record's reasoning. Off, a rotated or reversed clip comes with
# reasoning that its pixels contradict. Either way, without rehearsal (below) the SSL-CoT SFT unlearns
# much of what the warm-up reads: on the validation split, multiple choice 2.37× chance for the
# warm-up, 1.18× after the SFT (README, "What the tiny model learns", "Measured again").
EMBEDDED_THOUGHT_NAMES_TRANSFORM = True

# Half the SSL-CoT SFT's rows (by sample id) are shown as the shared warm-up shows them: the original
# clip, Video-R1's prompt, the record's own reasoning (viss_r1.train.sft_data). Trained on the new
# format alone, the tiny model unlearns much of what its warm-up read off the clip. On the validation
# split (README, "What the tiny model learns", "Rehearsal"): clean − blind of the SFT model +10.2 with
# none, +19.9 with a quarter, +20.5 with half; multiple choice 1.18×, 1.52×, 1.69× chance; the
# transform is still learnt (arrow 98 %). Stages already in the warm-up's format are unchanged by it;
# the 7B recipe rehearses nothing.
EMBEDDED_REHEARSAL_FRACTION = 0.5

# Batches of rows of like length (viss_r1.train.length_groups) stay off. The SSL-CoT SFT's rehearsed
# rows are short and its SSL-CoT rows long: shuffled together a quarter of a batch's tokens are
# padding, grouped almost none, but then every batch is all rehearsal or all SSL-CoT, and on the
# validation split the SFT model reads far less (seeds 0 and 2: +15.8, 1.57x and +17.5, 1.85x chance,
# against +29.0, 2.38x and +26.5, 2.42x shuffled; README, "What the tiny model learns").
EMBEDDED_LENGTH_GROUPED_BATCHES = False

# The SFT stages' loss from the full logits (viss_r1.train.logits_loss), not TRL's fused LM-head
# kernel: the same loss, and on the tiny model's 1,215-token vocabulary a step is 1.2x faster
# without the kernel's tiling (warm-up steps 0.146 s against 0.179, SSL-CoT steps 0.51 against 0.60,
# two cores). Other rounding, so the models were checked again on validation, seeds 0 and 2: they
# move as another seed moves them, the mean stays (README, "What the tiny model learns", "The SFT
# loss from the logits"). The 7B recipe keeps the fused head: a 150k vocabulary's logits take gigabytes.
EMBEDDED_LM_HEAD_LOSS = "logits"

# Decoded clips the SFT stages keep for their next read (viss_r1.data.frame_cache.FrameCacheReader):
# the embedded train split's 1,280 clips take 602 kB each decoded (16 frames of 112×112), 0.77 GB in
# all, so every read after a clip's first skips the Parquet read and the JPEG decode (at 512 MB a third
# of the clips did not fit, and reads in shuffled order decoded evicted clips again: the warm-up took
# 363 s, 326 s with every clip kept; README "Performance", (d14)). A store changes no result: what it
# keeps is what decoding again gives.
EMBEDDED_DECODED_CLIP_MEMORY_MB = 1024

# Every stage's prompts, and the tiny tokenizer's corpus, in a few words (viss_r1.prompts, "compact":
# "Think, then answer. Answer: a letter." where ours spends two sentences on how to think and where to
# write the answer). The tiny model's time goes with the tokens it reads, and the fixed instructions
# were ≈70 of a warm-up row's ≈300 and ≈160 of an SSL-CoT row's ≈500: compact, the warm-up took 273
# and 269 s instead of 326 s, the SSL-CoT SFT 326 and 332 s instead of 490 s (validation seeds 0 and
# 2), and over the four SFT and ViSS-R1 models the clip is read about as before (multiple choice 2.49×
# chance against 2.44×, clean − blind +24.1 against +28.5; README, "The prompts in a few words").
# The 7B recipe asks in the release's words (infra/configs/: ``prompt_wording: release``).
EMBEDDED_PROMPT_WORDING = "compact"

# The shared warm-up (viss_r1.stages.FORMAT_WARMUP) of the random tiny model: the analogue of
# instruction tuning, identical for every arm. It has to do more than teach the format: a real
# Instruct model already reads video, and the tiny model grounds a scene only after some 2,400 samples
# of it (README, "What the tiny model learns"). 2,400 steps of 4 plain chains of thought on the
# original clips (9,600 samples; 2,400 of each multiple-choice scene, trained twice as often, 1,200 of
# the others): on the validation split the warm-up model answers multiple choice at 2.5× chance
# (+31 points of clean over blind), where 1,800 steps over six equal scenes reached 1.7× (+27).
# 3,000 steps since the prompts are compact (EMBEDDED_PROMPT_WORDING): in a few words the warm-up read
# less after 2,400 (2.46× and 2.62× chance, validation seeds 0 and 2); after 3,000 it reads 2.66× and
# 3.02×, and the SFT and ViSS-R1 models after it answer more multiple choice too (README, "The prompts
# in a few words"), for about a minute of the time the compact prompts saved.
EMBEDDED_WARMUP = EMBEDDED_SFT.model_copy(
    update={"num_train_epochs": 1.0, "max_steps": 3000, "per_device_train_batch_size": 4, "save_steps": 300}
)

# GRPO of the tiny model on two CPU cores: 8 rollouts per prompt as the release, two prompts a
# step, completions capped near the synthetic chains of thought (≈60–110 tokens), 30 steps per
# stage (the main job runs three GRPO stages). A larger learning rate (1e-4) made the policy
# collapse onto one transform letter.
EMBEDDED_GRPO = OptimSettings(
    max_steps=30, learning_rate=2e-5, lr_scheduler_type="constant", warmup_steps=0.0, weight_decay=0.01,
    max_grad_norm=5.0, per_device_train_batch_size=2, gradient_accumulation_steps=1, bf16=False,
    activation_checkpointing=False, freeze_vision_tower=True, frozen_vision_cache_mb=512, save_steps=10,
    save_total_limit=2, logging_steps=1, seed=0,
)
EMBEDDED_ROLLOUTS = GRPOSettings(max_completion_length=160, rollout_table_steps=10)

# Evaluation of the tiny model: near-greedy decoding (temperature 0.01, as the embedded leaderboard
# was measured; the release's 0.1 with the same top_p 0.001 is just as greedy), answers capped near
# the synthetic chains of thought, batches of 48 (benchmarks/eval_throughput.py: 15.9 samples/s
# against 13.0 in batches of 16, which helps pay for the eval split's 120 clips).
EMBEDDED_EVAL_DECODING = Decoding(max_new_tokens=160, temperature=0.01, batch_size=48)

# How every model of the embedded run is asked: the decoding above, in the stages' wording.
EMBEDDED_EVALUATION = EvalSettings(decoding=EMBEDDED_EVAL_DECODING, prompt_wording=EMBEDDED_PROMPT_WORDING)
