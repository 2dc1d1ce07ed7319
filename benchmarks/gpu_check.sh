#!/usr/bin/env bash
# The GPU checks of the device-batches / compiled-step work, prepared for one H200 lease (the device tool's $OUT
# brings the files back, at most 8):
#   bash benchmarks/gpu_check.sh speed DATA   # CUDA equivalence tests, the speed table, packing (sized for ~7 min)
#   bash benchmarks/gpu_check.sh pack DATA    # then, if time is left: eight BSARec Beauty runs at once (~6 min)
# DATA: a folder holding the paper's LastFM.txt and Beauty.txt (carry a copy: ../shared does not travel).
# Packages the GPU image lacks (recbole 1.2.1 and the pins in setup.py) travel as wheels in .whl (device README).
set -uo pipefail
CHECK=${1:?speed or pack}
DATA=$(realpath "${2:?the folder holding LastFM.txt and Beauty.txt}")
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no GPU')" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv"

case $CHECK in
speed)
  # the equivalence tests parametrize over cuda where it is available
  timeout 170 python3 -m pytest -q -p no:cacheprovider tests/test_device_batches.py tests/test_compile.py \
    > "$OUT/tests.log" 2>&1
  echo "tests: exit $?"; tail -3 "$OUT/tests.log"
  # BSARec and SASRec on the three paths (launches per step included)
  timeout 180 python3 benchmarks/speed.py --device cuda --shared "$DATA" --epochs 2 \
    --json "$OUT/speed.json" > "$OUT/speed.txt" 2> "$OUT/speed.err"
  echo "speed: exit $?"; grep -v "^$" "$OUT/speed.txt" | tail -14
  # 1, 2, 4, 8 and 16 BSARec runs at once on the device path (no compilation to wait for in each)
  timeout 150 python3 benchmarks/speed.py --device cuda --shared "$DATA" --models BSARec SASRec --paths recbole device \
    --epochs 1 --packing 1 2 4 8 16 --json "$OUT/packing.json" > "$OUT/packing.txt" 2> "$OUT/packing.err"
  echo "packing: exit $?"; grep "^| [0-9]" "$OUT/packing.txt" | tail -5
  ;;
pack)
  # eight BSARec runs to early stop under the paper protocol, on the compiled path, at once on one GPU;
  # each its own process (2 threads), its run folder under $OUT's archive
  python3 -m recbole_bsarec.data "$DATA/Beauty.txt" --data_path dataset --name beauty > /dev/null || exit 1
  start=$(date +%s)
  for seed in 1 2 3 4 5 6 7 8; do
    OMP_NUM_THREADS=2 timeout 540 python3 run.py --model=BSARec --dataset=beauty --seed=$seed \
      --config_files=properties/protocol/paper.yaml --train_on_device=True --pad_last_batch=True \
      --torch_compile=True --show_progress=False --run_dir=gpu-pack/BSARec-beauty-seed$seed \
      > "gpu-pack-$seed.log" 2>&1 &
  done
  wait
  echo "8 runs at once: $(( $(date +%s) - start )) s wall"
  # each run's metrics.json and run.log (checkpoints stay: over the size of what comes back)
  find gpu-pack -name metrics.json -o -name run.log | tar czf "$OUT/pack.tar.gz" -T - gpu-pack-*.log
  grep -h "test result" gpu-pack/*/run.log | head -8
  ;;
*)
  echo "unknown check '$CHECK': use speed or pack" >&2
  exit 2
  ;;
esac
