#!/usr/bin/env bash
# SmolLM2-135M on the GPU machine (device tool): every format ModelOpt runs there, accuracy on held-out pydoc text.
# The device has no network and one call carries at most 64 MiB, so the inputs come in two back-to-back calls (the
# machine keeps /root while warm), each from .devwork/pN (git-ignored in the checkout the tool sends):
#   p1: whl/ (nvidia-modelopt 0.47.0, transformers 4.57.6, huggingface_hub 0.36.2, tokenizers 0.22.2, gguf 0.19.0,
#       pydantic, omegaconf...) + pulp-slim.tgz (pulp 3.3.2 without its 35 MB CBC binaries: ModelOpt imports pulp,
#       quantization never solves an LP) + gguf.a (the GGUF's first 42,000,000 bytes)
#       STAGE=p1  -> copy, install, start compiling ModelOpt's CUDA extensions (setsid: they outlive the call)
#   p2: gguf.b (the rest) + tf/ (trtforge + scripts)
#       STAGE=run -> reassemble + check sha256, convert, quantize every format, measure
# Results: $OUT/realmodel-*.{json,md}, $OUT/stages.txt.
set -u
R=/root/rm
OUT=${OUT:-/tmp/out}
SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
mkdir -p $R "$OUT"
stamp() { echo "[$(date +%T)] $*" | tee -a $R/stages.txt; }
export TORCH_EXTENSIONS_DIR=$R/ext TOKENIZERS_PARALLELISM=false MAX_JOBS=16 PYTHONUNBUFFERED=1
case "${STAGE:-run}" in
p1)
  cp -r .devwork/p1/whl .devwork/p1/gguf.a $R/
  mkdir -p $R/site && tar xzf .devwork/p1/pulp-slim.tgz -C $R/site
  stamp "install wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $R/site $R/whl/*.whl \
    > $R/pip.log 2>&1 || { tail -5 $R/pip.log; exit 1; }
  mkdir -p $TORCH_EXTENSIONS_DIR
  for f in get_cuda_ext get_cuda_ext_fp8 get_cuda_ext_mx; do
    setsid nohup env PYTHONPATH=$R/site python3 -c \
      "from modelopt.torch.quantization import extensions as e; assert e.$f() is not None" > $R/warm-$f.log 2>&1 &
  done
  stamp "p1 done; extensions compiling in the background"
  ;;
run)
  cp .devwork/p2/gguf.b $R/ && rm -rf $R/tf && cp -r .devwork/p2/tf $R/tf
  cd $R  # not the checkout's root: its own trtforge/ (main's) would shadow $R/tf for `python -m trtforge...`
  cat $R/gguf.a $R/gguf.b > $R/smol.gguf
  echo "$SHA  $R/smol.gguf" | sha256sum -c - || exit 2
  export PYTHONPATH=$R/site:$R/tf
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a $R/stages.txt
  python3 -c "import torch, transformers, modelopt; print(torch.__version__, torch.version.cuda, transformers.__version__, modelopt.__version__)" | tee -a $R/stages.txt
  stamp "converting the GGUF (in the background) while the CUDA extensions finish"
  mkdir -p $R/smol
  ( t0=$SECONDS; python3 -m trtforge.models.gguf_convert $R/smol.gguf $R/smol bfloat16 > $R/convert.json 2> $R/convert.log
    echo "convert rc=$? $((SECONDS - t0)) s" >> $R/stages.txt ) &
  CONV=$!
  for i in $(seq 1 200); do pgrep -f "quantization import extensions" > /dev/null || break; sleep 2; done
  ls $TORCH_EXTENSIONS_DIR/*/ 2>&1 | tee -a $R/stages.txt
  wait $CONV; cat $R/convert.json | tee -a $R/stages.txt; cp $R/convert.json "$OUT/" 2>/dev/null
  B="python3 $R/tf/scripts/bench_realmodel.py --model $R/smol --gguf $R/smol.gguf --ext-dir $TORCH_EXTENSIONS_DIR"
  ALL=fp8,fp8+kv_fp8,int8_sq,int4_awq,w4a8_awq,mxfp4,nvfp4,nvfp4+kv_nvfp4,nvfp4_awq
  stamp "every format at the CPU recipe's settings (8 x 256 calibration, 8 x 256 held out), HF + TRT-LLM exports"
  timeout ${SMALL_TIMEOUT:-240} $B --formats ${FORMATS:-$ALL} --exports hf,trtllm --out $R/small > $R/small.log 2>&1
  stamp "rc=$?"
  cp $R/small/realmodel.json "$OUT/realmodel-small.json"; cp $R/small/realmodel.md "$OUT/realmodel-small.md"
  tail -c 20000 $R/small/worker.log > "$OUT/worker-small.log"; tail -c 4000 $R/small.log > "$OUT/small.log"
  stamp "more text (64 x 512 calibration, 16 x 512 held out), HF export"
  timeout ${BIG_TIMEOUT:-150} $B --formats ${BIG_FORMATS:-fp8,fp8+kv_fp8,int8_sq,int4_awq,w4a8_awq,mxfp4,nvfp4} \
    --samples 64 --seq-len 512 --batch 16 --acc-samples 16 --out $R/big > $R/big.log 2>&1
  stamp "rc=$?"
  cp $R/big/realmodel.json "$OUT/realmodel-big.json"; cp $R/big/realmodel.md "$OUT/realmodel-big.md"
  cp $R/stages.txt "$OUT/"
  ;;
esac
