"""Command line: ``python -m train {fit,evaluate,bench,export,convert} ...``.

    python -m train fit --data ../shared/data/beat2 --variant full --steps 20000 --out runs/full
    python -m train fit --out runs/full --steps 40000 --resume   # the run's own settings, more steps
    torchrun --nproc_per_node 4 -m train fit --data DIR --out runs/ddp
    python -m train evaluate --model runs/full/model.json --data DIR --out eval/ \
        --baselines runs/baseline runs/split runs/mapping runs/bicycle runs/regression
    python -m train bench
    python -m train export --checkpoint runs/full/ckpt.pt --data DIR --out models/a2g.json
    python -m train convert take.bvh --out take.npz   # BVH -> SMPL-X .npz (AMASS/BEAT2 layout)

Every ``TrainConfig`` field is an option of ``fit`` (``--crop-frames``, ``--w-kl``, ...,
booleans as ``--amp/--no-amp``); ``--data`` and ``--out`` are short for ``--data-dir`` and
``--out-dir``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from core.prior import PRIORS
from train.config import TrainConfig

_ALIASES = {"data_dir": ["--data"], "out_dir": ["--out"]}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        flags = [f"--{field.name.replace('_', '-')}"] + _ALIASES.get(field.name, [])
        kind = hints[field.name]
        if kind is bool:
            parser.add_argument(*flags, dest=field.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(*flags, dest=field.name, type=kind, default=None,
                                help=f"default: {field.default}")


def _config_from(args: argparse.Namespace) -> TrainConfig:
    """The options given on the command line over the defaults, or, with ``--resume``, over the
    TrainConfig stored in the run's checkpoint (so ``--resume --steps N`` changes only the steps)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if getattr(args, f.name) is not None}
    if not args.resume:
        return TrainConfig(**given)
    from train.checkpoint import CHECKPOINT_NAME, load_checkpoint

    path = Path(given.get("out_dir", TrainConfig.out_dir)) / CHECKPOINT_NAME
    if not path.is_file():
        raise SystemExit(f"--resume: no checkpoint at {path}")
    return TrainConfig.from_dict({**load_checkpoint(path)["train_config"], **given})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p_fit = sub.add_parser("fit", help="train a variant (single process or torchrun DDP)")
    _add_config_options(p_fit)
    p_fit.add_argument("--resume", action="store_true", help="continue from <out>/ckpt.pt")

    p_eval = sub.add_parser("evaluate", help="metrics table and plots on the validation split")
    p_eval.add_argument("--model", required=True, help="our exported model (.json) or run folder")
    p_eval.add_argument("--data", required=True,
                        help="data folder (flat: its validation tails; BEAT2 as published: its test rows)")
    p_eval.add_argument("--out", required=True, help="folder for results.md, results.json and PNGs")
    p_eval.add_argument("--baselines", nargs="*", default=[],
                        help="run folders / model files / checkpoints of ablations and baselines")
    p_eval.add_argument("--samples", type=int, default=20, help="samples per audio (paper: 20)")
    p_eval.add_argument("--seed", type=int, default=0)
    p_eval.add_argument("--intensities", nargs="*", type=float, default=[0.5, 1.5],
                        help="extra unseen-speech rows at these intensities (default prior)")
    p_eval.add_argument("--priors", nargs="*", default=None, choices=PRIORS,
                        help="code priors to evaluate the model with, a row each (default: all it has)")
    p_eval.add_argument("--val-fraction", type=float, default=None,
                        help="default: the model's training val_fraction (0.15)")
    p_eval.add_argument("--speakers", default=None,
                        help="BEAT2 speaker ids whose test rows to use ('2', '2,4', 'all'; default: "
                             "the model's training speakers)")

    p_bench = sub.add_parser("bench", help="training steps per second at batch 32")
    p_bench.add_argument("--batch-size", type=int, default=32)
    p_bench.add_argument("--crop-frames", type=int, default=128)
    p_bench.add_argument("--steps", type=int, default=10)
    p_bench.add_argument("--variant", default="full")
    p_bench.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    p_export = sub.add_parser("export", help="export a checkpoint as a model file")
    p_export.add_argument("--checkpoint", required=True,
                          help="a training checkpoint (.pt), or a model file (.json) to re-export "
                               "in the current format with the code priors")
    p_export.add_argument("--data", required=True, help="the training data (for the code statistics)")
    p_export.add_argument("--out", required=True, help="model file to write (.json)")
    p_export.add_argument("--prior", default=None, choices=PRIORS,
                          help="the default code prior of the exported model (core/prior.py; "
                               "default: the one the model card's numbers chose)")
    p_export.add_argument("--output-smoothing", type=int, default=None,
                          help="sigma (frames) of the inference low-pass on the decoder output")

    p_convert = sub.add_parser("convert", help="convert a BVH take to an SMPL-X .npz (AMASS/BEAT2 layout)")
    p_convert.add_argument("bvh", help="the BVH file")
    p_convert.add_argument("--out", required=True, help="the .npz to write")
    p_convert.add_argument("--bone-map", default="", help="a bone-map preset (.json) for odd bone names")

    args = parser.parse_args(argv)
    from core.errors import UserError

    try:
        return _run(args)
    except UserError as exc:  # bad input: the message says what to do; no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "fit":
        from torch.distributed.elastic.multiprocessing.errors import record

        from train.fit import fit

        # under torchrun, a failing rank's error and traceback go into torchrun's summary
        record(fit)(_config_from(args), resume=args.resume)
    elif args.command == "evaluate":
        from train.evaluate import evaluate

        evaluate(args.model, args.data, args.out, baselines=args.baselines, n_samples=args.samples,
                 seed=args.seed, val_fraction=args.val_fraction, priors=args.priors,
                 intensities=args.intensities, speakers=args.speakers)
    elif args.command == "bench":
        from train.bench import bench

        bench(args.batch_size, args.crop_frames, args.steps, args.variant, args.threads)
    elif args.command == "convert":
        from train.convert import convert_bvh

        print(convert_bvh(args.bvh, args.out, args.bone_map))
    elif args.command == "export":
        from train.export import DEFAULT_PRIOR, export_checkpoint, reexport_model_file

        prior = args.prior or DEFAULT_PRIOR
        if str(args.checkpoint).endswith(".json"):  # a model file: re-export with the code priors
            print(reexport_model_file(args.checkpoint, args.data, args.out, prior, args.output_smoothing))
        else:
            print(export_checkpoint(args.checkpoint, args.data, args.out, args.output_smoothing, prior))
    return 0


if __name__ == "__main__":
    sys.exit(main())
