"""Order of agreement of every optimizer with each of its models, on two surfaces.

    python examples/order_table.py [--markdown] [--surfaces product-loss rosenbrock]

Runs ``odeopt check`` (``odeopt.check.check_order``) with its defaults for each
optimizer's default model (``--all``: every model) and prints the declared and fitted
orders.
"""

import argparse

import odeopt
from odeopt.check import check_order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--markdown", action="store_true", help="print a markdown table"
    )
    parser.add_argument("--surfaces", nargs="+", default=["product-loss", "rosenbrock"])
    parser.add_argument(
        "--all",
        action="store_true",
        help="every model, not only each optimizer's default (some only hold in their "
        "regime, e.g. the over-damped ones need lr·L ≪ (1 − β)²)",
    )
    args = parser.parse_args()
    header = ["optimizer", "model", "init", "declared"]
    header += [f"fitted on {s}" for s in args.surfaces]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
    for name in odeopt.optimizer_names():
        optimizer = odeopt.get_optimizer(name)
        models = optimizer.models if args.all else optimizer.models[:1]
        both = args.all and hasattr(optimizer.kernels, "consistent_start")
        for model in models:
            for init in ("pytorch", "consistent") if both else ("pytorch",):
                cells, declared = [], None
                for surface in args.surfaces:
                    result = check_order(name, surface, model=model.name, init=init)
                    declared = result.declared_order
                    mark = "" if result.passed else " (failed)"
                    cells.append(f"{result.fitted_order:.3f}{mark}")
                row = [name, model.name, init, f"{declared:g}"] + cells
                if args.markdown:
                    print("| " + " | ".join(row) + " |")
                else:
                    print("".join(f"{c:<22}" for c in row))


if __name__ == "__main__":
    main()
