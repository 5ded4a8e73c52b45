#!/usr/bin/env bash
# What the quantize engineer runs on the GPU machine (device tool, H100): real ModelOpt on CUDA.
#   STAGES="setup warmup matrix moe" bash scripts/device_quantize.sh ;  STAGES="setup warmup llama" ...
# Wheels come from .whl/ (carried; the device has no network). Everything lands in $WORK/report and is packed into
# $OUT/results.tgz (the device tool returns at most 8 files), with stages.txt next to it.
set -u
OUT=${OUT:-/tmp/trtforge-device-out}
WORK=/tmp/trtforge-q
REP=$WORK/report
export TORCH_EXTENSIONS_DIR=$WORK/cache/torch_extensions   # ModelOpt's JIT CUDA extensions: compiled once, reused
export TOKENIZERS_PARALLELISM=false MAX_JOBS=${MAX_JOBS:-16}
STAGES=${STAGES:-"setup warmup matrix moe llama"}
SAMPLES=${SAMPLES:-32}
mkdir -p "$OUT" "$REP" "$TORCH_EXTENSIONS_DIR" $WORK/models
stamp() { echo "[$(date +%T)] $*" | tee -a "$REP/stages.txt"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
pack() { tar czf "$OUT/results.tgz" -C "$WORK" report 2>/dev/null; cp "$REP/stages.txt" "$OUT/" 2>/dev/null; }
trap pack EXIT
unlock() { find "$TORCH_EXTENSIONS_DIR" -name lock -delete 2>/dev/null; }  # a build killed mid-way leaves one
B="python3 scripts/bench_quantize.py --device cuda --ext-dir $TORCH_EXTENSIONS_DIR --models-dir $WORK/models"

if has setup; then
  stamp "install wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$REP/pip.log" 2>&1 || { tail -20 "$REP/pip.log"; exit 1; }
fi
export PYTHONPATH=/tmp/site:$PWD
python3 - <<'PY' > "$REP/versions.json"
import json, sys
from importlib import metadata
v = {"python": sys.version.split()[0]}
for d in ["torch", "transformers", "nvidia-modelopt", "accelerate", "safetensors", "huggingface_hub", "tokenizers",
          "numpy", "scipy", "pulp", "ninja", "pydantic", "requests", "PyYAML", "packaging", "triton"]:
    try: v[d] = metadata.version(d)
    except Exception: v[d] = None
import torch
v["cuda"] = torch.version.cuda; v["gpu"] = torch.cuda.get_device_name(0); v["sm"] = torch.cuda.get_device_capability(0)
from trtforge.quantize.versions import version_problems
v["trtforge_version_problems"] = version_problems()
print(json.dumps(v))
PY
cat "$REP/versions.json"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$REP/stages.txt" 2>&1

if has warmup; then
  # Compile ModelOpt's three CUDA extensions in parallel (one process each) before anything is timed.
  stamp "warm-up: ModelOpt CUDA extensions -> $TORCH_EXTENSIONS_DIR"
  unlock
  for f in ${WARMUP_EXTS:-get_cuda_ext get_cuda_ext_fp8 get_cuda_ext_mx}; do
    ( t0=$SECONDS; timeout 240 python3 -c "from modelopt.torch.quantization import extensions as e; assert e.$f() is not None" \
        > "$REP/warmup-$f.log" 2>&1; echo "$f rc=$? $((SECONDS - t0)) s" >> "$REP/stages.txt" ) &
  done
  wait
  ls -la "$TORCH_EXTENSIONS_DIR"/* > "$REP/torch_extensions.txt" 2>&1
  stamp "warm-up done"; pack
fi

if has matrix; then
  stamp "matrix (tiny models, CUDA)"
  unlock
  timeout ${MATRIX_TIMEOUT:-150} $B --matrix --kinds ${MATRIX_KINDS:-llama,moe,gptoss} --out $WORK/matrix \
    > "$REP/matrix.stdout" 2> "$REP/matrix.stderr"
  stamp "matrix rc=$?"
  cp $WORK/matrix/matrix.json $WORK/matrix/matrix.md "$REP/" 2>/dev/null
  for f in $WORK/matrix/worker-*.log; do tail -c 30000 "$f" > "$REP/matrix-$(basename $f)"; done 2>/dev/null
  pack
fi

if has moe; then
  stamp "small Mixtral MoE (hidden 1024, 8 layers, 4 experts): all formats in one worker process, accuracy on 16 windows"
  unlock
  timeout ${MOE_TIMEOUT:-150} $B --bench --no-direct --kind moe --hidden 1024 --layers 8 --intermediate 2048 \
    --formats ${MOE_FORMATS:-fp8,nvfp4,int4_awq,w4a8_awq,mxfp4} --samples $SAMPLES --seq-len 512 --batch 8 \
    --acc-samples 16 --out $WORK/moe > "$REP/moe.stdout" 2> "$REP/moe.stderr"
  stamp "moe rc=$?"
  cp $WORK/moe/bench.json "$REP/moe-bench.json" 2>/dev/null; tail -c 30000 $WORK/moe/worker.log > "$REP/moe-worker.log" 2>/dev/null
  pack
fi

if has llama; then
  # ~1B-parameter Llama (random init): direct ModelOpt vs trtforge's worker, same config and calibration data,
  # each in a fresh process (imports included) = the step's overhead. Then the other formats in one worker process.
  stamp "llama ~1B: direct vs worker (${LLAMA_DIRECT_FORMATS:-fp8,int4_awq})"
  unlock
  timeout ${LLAMA_TIMEOUT:-220} $B --bench --kind llama --hidden 2048 --layers 16 --intermediate 8192 \
    --formats ${LLAMA_DIRECT_FORMATS:-fp8,int4_awq} --samples $SAMPLES --seq-len 512 --batch 8 --acc-samples 0 \
    --out $WORK/llama > "$REP/llama.stdout" 2> "$REP/llama.stderr"
  stamp "llama direct-vs-worker rc=$?"
  cp $WORK/llama/bench.json "$REP/llama-bench-direct.json" 2>/dev/null
  for f in $WORK/llama/worker-*.log; do tail -c 20000 "$f" > "$REP/llama-$(basename $f)"; done 2>/dev/null
  pack
  stamp "llama ~1B: worker only (${LLAMA_WORKER_FORMATS:-nvfp4,w4a8_awq,mxfp4}), accuracy on 16 windows"
  unlock
  timeout ${LLAMA2_TIMEOUT:-150} $B --bench --no-direct --kind llama --hidden 2048 --layers 16 --intermediate 8192 \
    --formats ${LLAMA_WORKER_FORMATS:-nvfp4,w4a8_awq,mxfp4} --samples $SAMPLES --seq-len 512 --batch 8 \
    --acc-samples 16 --out $WORK/llama2 > "$REP/llama2.stdout" 2> "$REP/llama2.stderr"
  stamp "llama worker-only rc=$?"
  cp $WORK/llama2/bench.json "$REP/llama-bench-worker.json" 2>/dev/null
  tail -c 30000 $WORK/llama2/worker.log > "$REP/llama2-worker.log" 2>/dev/null
fi
if has overhead; then
  # The step's overhead over calling ModelOpt directly: same ~1B Llama, config and calibration windows; each side a
  # fresh process (imports included), order alternating, median of the repeats.
  for spec in ${OVERHEAD_SPECS:-fp8:3 int4_awq:2}; do
    f=${spec%%:*}; n=${spec##*:}
    stamp "overhead: $f x$n (direct vs worker, alternating)"
    unlock
    timeout ${OVERHEAD_TIMEOUT:-200} $B --bench --kind llama --hidden 2048 --layers 16 --intermediate 8192 \
      --formats $f --repeat $n --samples $SAMPLES --seq-len 512 --batch 8 --acc-samples 0 \
      --out $WORK/overhead-$f > "$REP/overhead-$f.stdout" 2> "$REP/overhead-$f.stderr"
    stamp "overhead $f rc=$?"
    cp $WORK/overhead-$f/bench.json "$REP/overhead-$f.json" 2>/dev/null
    pack
  done
fi
stamp done
