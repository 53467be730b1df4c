#!/bin/bash
# The app's click benchmark (over HTTP) and the sweep benchmark on a machine with no project environment: a
# python3 (3.12) that has numpy, numba, scipy and pyarrow, and the project's other packages as wheels in WHEELS.
# Used for the 16-core figures of benchmarks/RESULTS.md. Make the wheels on a machine with the project's venv:
#   .venv/bin/pip freeze --exclude-editable | grep -viE '^(numpy|scipy|pyarrow|llvmlite|numba|matplotlib)==' > /tmp/req.txt
#   .venv/bin/python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl -r /tmp/req.txt
# Then, in the checkout's root on the other machine:
#   bash benchmarks/bare_machine.sh app 0.53     # bench_app.py --http for 8, 16 and 4 run workers; 0.53 s: a browser run's drawing
#   bash benchmarks/bare_machine.sh sweep        # bench_sweep.py: 1 worker, a 16-process pool, Dask LocalClusters of 4, 8, 16
# WHEELS (.whl), SITE (/tmp/site), OUT (/tmp/out: the benchmarks' output), PY (python3), WORKERS, CLICKS, EXTRA, LIMIT.
set -u
what=${1:?app DRAWING_S or sweep}
PY=${PY:-python3}
OUTD=${OUT:-/tmp/out}; mkdir -p "$OUTD"
SITE=${SITE:-/tmp/site}
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "${WHEELS:-.whl}"/*.whl || exit 1
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1
$PY -c "import numpy, numba, pandas, dash, mesa, dask; print('numpy', numpy.__version__, 'numba', numba.__version__, 'pandas', pandas.__version__, 'dash', dash.__version__, 'mesa', mesa.__version__, 'dask', dask.__version__)" || exit 1
echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo); $(lscpu 2>/dev/null | grep -E '^(Thread|Core|Socket)' | tr -s ' ' | tr '\n' ';')"
case $what in
  app)
    # the benchmark starts the app as tests/browser_support.AppProcess does: .venv/bin/mandate-sim (made if missing)
    mkdir -p .venv/bin
    [ -e .venv/bin/mandate-sim ] || printf '#!/bin/sh\nexec %s -c "import sys; from sim.cli import entry; sys.argv[0] = \\"mandate-sim\\"; sys.exit(entry())" "$@"\n' "$(command -v "$PY")" > .venv/bin/mandate-sim
    chmod +x .venv/bin/mandate-sim
    for w in ${WORKERS:-8 16 4}; do
      echo "=== $w run workers"
      timeout "${LIMIT:-170}" $PY benchmarks/bench_app.py --http --clicks "${CLICKS:-4}" --workers "$w" --drawing "${2:-0.53}" ${EXTRA:-} 2>&1 \
        | tee "$OUTD/http-$w.txt" | tail -9
    done ;;
  sweep)
    timeout "${LIMIT:-500}" $PY benchmarks/bench_sweep.py ${EXTRA:---workers 1,16 --dask-local 4,8,16 --samples 1024 --replicates 4} \
      --json "$OUTD/sweep.json" 2>&1 | tee "$OUTD/sweep.txt" ;;
  *) echo "unknown: $what (app or sweep)" >&2; exit 2 ;;
esac
