"""`python -m benchmarks [startup] [throughput] [precision] [sweep] [study] [search]`: run the
benchmarks (all by default), printing each Markdown table as it is done."""
import argparse

from benchmarks import search, startup, study, sweep, throughput


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="startup, throughput, precision, sweep, study, search (default: all)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per arm (median)")
    parser.add_argument("--images", type=int, default=6000, help="training images per throughput epoch")
    parser.add_argument("--threads", type=int, help="torch threads for the throughput arms (default: the app's choice)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run in the sweep head-to-head (issue 10: 5)")
    parser.add_argument("--arms", nargs="+", help="the sweep head-to-head's project arms to run (default: all), e.g. "
                                                  "'joblib fp32' 'joblib fp32 halving'")
    args = parser.parse_args()
    benchmarks = {
        "startup": lambda: startup.run(2 * args.reps + 1),
        "throughput": lambda: throughput.run(args.reps, args.images, args.threads),
        "precision": lambda: throughput.precision_run(args.reps, args.images, args.threads),
        "sweep": lambda: sweep.run(args.reps, args.epochs, args.arms),
        "study": lambda: study.run(),
        "search": lambda: search.run(args.reps),
    }
    unknown = set(args.names) - set(benchmarks)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {list(benchmarks)}")
    names = args.names or list(benchmarks)
    for name in names:
        print(benchmarks[name](), "\n", flush=True)


if __name__ == "__main__":
    main()
