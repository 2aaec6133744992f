"""Make the README's gallery pictures (docs/gallery/*.png and one .gif).

    python examples/gallery.py [--out docs/gallery]

Each picture is also one ``odeopt`` command, printed beside it in the README.
"""

import argparse
from pathlib import Path

import odeopt
from odeopt import plotting
from odeopt.check import check_order
from odeopt.compare import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="docs/gallery")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # odeopt run -o nesterov -s rosenbrock --steps 3000 --reference --plot ...
    traj = odeopt.run("nesterov", "rosenbrock", steps=3000, reference=True)
    plotting.save(plotting.plot_run(traj), out / "nesterov-rosenbrock.png", dpi=90)

    # odeopt run -o adam -s himmelblau --lr 0.05 --steps 400 --reference --plot ...
    traj = odeopt.run("adam", "himmelblau", lr=0.05, steps=400, reference=True)
    plotting.save(plotting.plot_run(traj), out / "adam-himmelblau.png", dpi=90)

    # odeopt run -o momentum -s su-double-well --lr 1e-3 --momentum 0.95 --steps 2000
    #            --reference --plot ...
    traj = odeopt.run(
        "momentum", "su-double-well", lr=1e-3, momentum=0.95, steps=2000, reference=True
    )
    plotting.save(plotting.plot_run(traj), out / "momentum-double-well.png", dpi=90)

    # odeopt check -o gd -s product-loss --plot ...
    ax = plotting.order_plot(check_order("gd", "product-loss"))
    plotting.save(ax.figure, out / "order-gd-product-loss.png", dpi=90)

    # odeopt animate -o gd -o momentum -o nesterov -o adam -s rosenbrock --steps 3000
    #                --reference --frames 40 --dpi 64 --out ...
    race = compare(
        ["gd", "momentum", "nesterov", "adam"], "rosenbrock", steps=3000, reference=True
    )
    animation = plotting.animate(race.trajectories, x="step", frames=40)
    plotting.save_animation(animation, out / "race-rosenbrock.gif", dpi=64)

    # Python: the Su–Boyd–Candès Lyapunov function along NAG-C's ODE and iterates
    traj = odeopt.run("nag-c", "quadratic", lr=1e-4, steps=2000, reference=True)
    ax = plotting.energy(traj, iterates=False)
    plotting.save(ax.figure, out / "sbc-lyapunov.png", dpi=90)

    for picture in sorted([*out.glob("*.png"), *out.glob("*.gif")]):
        print(picture, f"{picture.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
