"""Measure token-coding choices on synthetic token sequences.

Usage::

    .venv/bin/python benchmarks/entropy.py [--videos 16] [--seed 0]

Prints (1) ideal adaptive bits of context/adaptation variants relative to the default
config, for two synthetic regimes (AR(1)-correlated and independent increments), summed
over all steps and videos; (2) actual payload bits vs the ideal code length and
bits/token of the default config at several steps; (3) coder speed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from dynamics_codec.entropy import NeighbourContext, TokenCoder, TokenCodingConfig, estimate_bits
from dynamics_codec.entropy.synthetic import laplacian_tokens, synthetic_tokens

STEPS = (0.05, 0.1, 0.2, 0.5)


def variants(base: TokenCodingConfig) -> dict[str, TokenCodingConfig]:
    out = {"default": base}
    for mode in NeighbourContext:
        out[f"neighbour={mode.name}"] = replace(base, neighbour_context=mode)
    for groups in (1, 2, 4):
        out[f"index_groups={groups}"] = replace(base, index_groups=groups)
    out["per_vector_contexts"] = replace(base, per_vector_contexts=not base.per_vector_contexts)
    out["warmup=off"] = replace(base, warmup=False)
    for fast, slow in ((3, 6), (4, 7), (5, 8), (4, 4), (6, 6)):
        out[f"shifts=({fast},{slow})"] = replace(base, fast_shift=fast, slow_shift=slow)
    for cutoff in (2, 4, 8, 12, 16):
        out[f"unary_cutoff={cutoff}"] = replace(base, unary_cutoff=cutoff)
    for order in (0, 1, 2):
        out[f"eg_order={order}"] = replace(base, eg_order=order)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    base = TokenCodingConfig(step=0.1)
    regimes = {
        "ar1 rho=0.5": dict(rho=0.5),
        "independent rho=0": dict(rho=0.0),
    }
    for regime, kwargs in regimes.items():
        rng = np.random.default_rng(args.seed)
        videos = [synthetic_tokens(rng, **kwargs) for _ in range(args.videos)]
        totals = {}
        for name, cfg in variants(base).items():
            totals[name] = sum(estimate_bits(v, cfg.with_step(s)) for v in videos for s in STEPS)
        ref = totals["default"]
        print(f"\n## context/adaptation variants, regime {regime}: ideal bits relative to default "
              f"({ref / (len(videos) * len(STEPS)):.1f} bits/video averaged over steps {STEPS})")
        for name, total in totals.items():
            print(f"  {name:28s} {100.0 * (total / ref - 1.0):+6.2f} %")

    rng = np.random.default_rng(args.seed + 1)
    videos = [synthetic_tokens(rng) for _ in range(args.videos)]
    print("\n## default config, synthetic tokens [49, 2, 20]: payload vs ideal")
    print("  step   bits/token   payload bits/video   ideal bits/video   overhead bits/video   enc s   dec s")
    for step in STEPS:
        coder = TokenCoder(base.with_step(step))
        payload_bits = ideal = enc_s = dec_s = 0.0
        for v in videos:
            t0 = time.perf_counter()
            enc = coder.encode(v)
            t1 = time.perf_counter()
            coder.decode(enc.payload, *v.shape)
            t2 = time.perf_counter()
            payload_bits += enc.bits
            ideal += enc.ideal_bits
            enc_s += t1 - t0
            dec_s += t2 - t1
        n = len(videos)
        print(f"  {step:4.2f}   {payload_bits / (n * v.size):10.3f}   {payload_bits / n:18.1f}   {ideal / n:16.1f}"
              f"   {(payload_bits - ideal) / n:19.1f}   {enc_s / n:5.3f}   {dec_s / n:5.3f}")

    print("\n## i.i.d. Laplacian residuals (alpha = 0, scale 1), [49, 2, 20]: payload vs ideal")
    rng = np.random.default_rng(args.seed + 2)
    lap = [laplacian_tokens(rng, 49, 2, 20) for _ in range(args.videos)]
    for step in STEPS:
        coder = TokenCoder(replace(base, step=step, alpha=0.0))
        encs = [coder.encode(v) for v in lap]
        bits = sum(e.bits for e in encs) / len(encs)
        ideal = sum(e.ideal_bits for e in encs) / len(encs)
        print(f"  step {step:4.2f}: {bits / lap[0].size:6.3f} bits/token, payload {bits:8.1f}, ideal {ideal:8.1f}, "
              f"ratio {bits / ideal:.4f}")


if __name__ == "__main__":
    main()
