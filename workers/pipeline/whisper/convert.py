"""Turn a CTranslate2 Whisper model (``model.bin``) into an openai-whisper checkpoint.

Same model, other file format: ``model.bin`` is a header and a list of named tensors
(name, shape, dtype, bytes), then aliases. This reads it with the standard library and
numpy and renames the tensors to openai-whisper's layout (CTranslate2 fuses the self-attention
q/k/v projections and the cross-attention k/v ones: they are split back; openai-whisper's
key projections have no bias). Only float32/float16 models are handled (not int8-quantized
ones: their weights are no longer the original numbers).
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}


def read_model_bin(path: Path) -> tuple[str, dict]:
    """(spec name, {name: numpy array}) of a CTranslate2 model.bin; aliases resolved."""
    import numpy as np

    with open(path, "rb") as f:
        def read(fmt):
            size = struct.calcsize(fmt)
            return struct.unpack(fmt, f.read(size))

        def string():
            (length,) = read("H")
            return f.read(length)[:-1].decode()

        (version,) = read("I")
        if version < 5:
            raise ValueError(f"unsupported CTranslate2 binary version {version}")
        spec = string()
        read("I")  # spec revision
        (count,) = read("I")
        tensors = {}
        for _ in range(count):
            name = string()
            (rank,) = read("B")
            shape = read("I" * rank) if rank else ()
            (type_id,) = read("B")
            (num_bytes,) = read("I")
            dtype = DTYPES[type_id]
            data = f.read(num_bytes)
            if dtype == "bfloat16":
                raise ValueError("bfloat16 models are not supported")
            tensors[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
        (aliases,) = read("I")
        for _ in range(aliases):
            alias, target = string(), string()
            tensors[alias] = tensors[target]
    return spec, tensors


def convert(model_dir: Path) -> dict:
    """{"dims": ..., "model_state_dict": ...} as ``whisper.load_model`` expects, plus the
    alignment heads (from config.json) for word timestamps."""
    import torch

    spec, t = read_model_bin(Path(model_dir) / "model.bin")
    if spec != "WhisperSpec":
        raise ValueError(f"not a Whisper model: {spec}")
    if any(name.endswith("weight_scale") for name in t):
        raise ValueError("int8-quantized models cannot be converted faithfully")

    def layers(prefix):
        return sorted({int(m.group(1)) for n in t for m in [re.match(rf"{prefix}/layer_(\d+)/", n)] if m})

    enc_layers, dec_layers = layers("encoder"), layers("decoder")
    state = {}

    def put(name, array):
        state[name] = torch.from_numpy(array.astype("float32").copy())

    def attention(dst, src, fused_qkv: bool):
        state_dim = t[f"{src}/linear_0/weight"].shape[1]
        if fused_qkv:
            w, b = t[f"{src}/linear_0/weight"], t[f"{src}/linear_0/bias"]
            put(f"{dst}.query.weight", w[:state_dim]), put(f"{dst}.query.bias", b[:state_dim])
            put(f"{dst}.key.weight", w[state_dim:2 * state_dim])
            put(f"{dst}.value.weight", w[2 * state_dim:]), put(f"{dst}.value.bias", b[2 * state_dim:])
            put(f"{dst}.out.weight", t[f"{src}/linear_1/weight"]), put(f"{dst}.out.bias", t[f"{src}/linear_1/bias"])
        else:  # cross-attention: linear_0 = query, linear_1 = key+value fused, linear_2 = out
            put(f"{dst}.query.weight", t[f"{src}/linear_0/weight"]), put(f"{dst}.query.bias", t[f"{src}/linear_0/bias"])
            w, b = t[f"{src}/linear_1/weight"], t[f"{src}/linear_1/bias"]
            put(f"{dst}.key.weight", w[:state_dim])
            put(f"{dst}.value.weight", w[state_dim:]), put(f"{dst}.value.bias", b[state_dim:])
            put(f"{dst}.out.weight", t[f"{src}/linear_2/weight"]), put(f"{dst}.out.bias", t[f"{src}/linear_2/bias"])

    def norm(dst, src):
        put(f"{dst}.weight", t[f"{src}/gamma"]), put(f"{dst}.bias", t[f"{src}/beta"])

    def mlp(dst, src):
        put(f"{dst}.0.weight", t[f"{src}/linear_0/weight"]), put(f"{dst}.0.bias", t[f"{src}/linear_0/bias"])
        put(f"{dst}.2.weight", t[f"{src}/linear_1/weight"]), put(f"{dst}.2.bias", t[f"{src}/linear_1/bias"])

    for conv in ("conv1", "conv2"):
        put(f"encoder.{conv}.weight", t[f"encoder/{conv}/weight"]), put(f"encoder.{conv}.bias", t[f"encoder/{conv}/bias"])
    put("encoder.positional_embedding", t["encoder/position_encodings/encodings"])
    for i in enc_layers:
        attention(f"encoder.blocks.{i}.attn", f"encoder/layer_{i}/self_attention", True)
        norm(f"encoder.blocks.{i}.attn_ln", f"encoder/layer_{i}/self_attention/layer_norm")
        mlp(f"encoder.blocks.{i}.mlp", f"encoder/layer_{i}/ffn")
        norm(f"encoder.blocks.{i}.mlp_ln", f"encoder/layer_{i}/ffn/layer_norm")
    norm("encoder.ln_post", "encoder/layer_norm")

    put("decoder.token_embedding.weight", t["decoder/embeddings/weight"])
    put("decoder.positional_embedding", t["decoder/position_encodings/encodings"])
    for i in dec_layers:
        attention(f"decoder.blocks.{i}.attn", f"decoder/layer_{i}/self_attention", True)
        norm(f"decoder.blocks.{i}.attn_ln", f"decoder/layer_{i}/self_attention/layer_norm")
        attention(f"decoder.blocks.{i}.cross_attn", f"decoder/layer_{i}/attention", False)
        norm(f"decoder.blocks.{i}.cross_attn_ln", f"decoder/layer_{i}/attention/layer_norm")
        mlp(f"decoder.blocks.{i}.mlp", f"decoder/layer_{i}/ffn")
        norm(f"decoder.blocks.{i}.mlp_ln", f"decoder/layer_{i}/ffn/layer_norm")
    norm("decoder.ln", "decoder/layer_norm")

    n_state = t["encoder/conv1/weight"].shape[0]
    dims = {
        "n_mels": int(t["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(t["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(n_state),
        "n_audio_head": int(t["encoder/num_heads"]),
        "n_audio_layer": len(enc_layers),
        "n_vocab": int(t["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(t["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(t["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(t["decoder/num_heads"]),
        "n_text_layer": len(dec_layers),
    }
    config = Path(model_dir) / "config.json"
    heads = json.loads(config.read_text()).get("alignment_heads") if config.exists() else None
    return {"dims": dims, "model_state_dict": state, "alignment_heads": heads}


def openai_checkpoint(model_dir: Path, cache_dir: Path) -> Path:
    """The converted checkpoint for ``model_dir``, written once into ``cache_dir``."""
    import hashlib

    import torch

    source = Path(model_dir) / "model.bin"
    digest = hashlib.sha256(f"{source.resolve()}:{source.stat().st_size}:{source.stat().st_mtime_ns}".encode())
    target = Path(cache_dir) / f"whisper-{digest.hexdigest()[:16]}.pt"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        torch.save(convert(model_dir), tmp)
        tmp.replace(target)
    return target
