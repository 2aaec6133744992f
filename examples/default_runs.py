"""Every optimizer on every surface with default settings: final loss and status.

    python examples/default_runs.py [--markdown] [--surface NAME ...]

With only an optimizer and a surface, odeopt picks the learning rate from the
surface (``odeopt list`` states each optimizer's rule) and takes 10 000 steps from
the surface's classic start.  This prints the outcome of each pair, the table
quoted in the README.
"""

import argparse

import numpy as np

import odeopt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--markdown", action="store_true", help="print a markdown table"
    )
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument(
        "--surface", action="append", help="only these surfaces (repeatable)"
    )
    args = parser.parse_args()
    optimizers = odeopt.optimizer_names()
    surfaces = args.surface or odeopt.surface_names()
    header = ["surface (start loss)"] + optimizers
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
    else:
        print(f"{header[0]:<26}" + "".join(f"{c:>14}" for c in header[1:]))
    for surface in surfaces:
        cells = []
        start_loss = None
        for optimizer in optimizers:
            traj = odeopt.run(
                optimizer, surface, steps=args.steps, record_every=args.steps
            )
            start_loss = traj.loss[0]
            mark = {"diverged": " ✗", "converged": " ✓", "max_steps": ""}[
                traj.status.value
            ]
            loss = traj.final_loss
            cells.append(f"{loss:.3g}{mark}" if np.isfinite(loss) else f"{loss}{mark}")
        row = [f"{surface} ({start_loss:.3g})"] + cells
        if args.markdown:
            print("| " + " | ".join(row) + " |")
        else:
            print(f"{row[0]:<26}" + "".join(f"{c:>14}" for c in row[1:]))


if __name__ == "__main__":
    main()
