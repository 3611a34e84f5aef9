#!/usr/bin/env python3
"""Build a Qwen3-30B-A3B-shaped proxy model (random weights, bf16) and an offline tokenizer.

The proxy has the real model's per-layer shape (hidden 2048, 32 query / 4 KV heads of 128,
128 experts top-8 of width 768, vocab 151936, untied embeddings) and only N decoder layers
(default 4), so one training step costs what 4/48 of the real model's layers plus the full
embeddings and LM head cost. Nothing is downloaded: the tokenizer is a byte-level BPE trained
here on generated text (the same generator bench/make_dataset.py uses), padded to Qwen3's
vocabulary layout so the chat special tokens sit at Qwen3's ids:

    <|endoftext|> 151643   <|im_start|> 151644   <|im_end|> 151645   <think> 151667   </think> 151668

ms-swift's `qwen3_thinking` template (ChatML meta, thinking_prefix '<think>\\n', stop word
<|endoftext|>) builds prompts from its own template text and tokenizes them, so what it needs
from the tokenizer is: those strings as single tokens, an eos (<|im_end|>) and a pad token
(<|endoftext|>); the Jinja chat template is saved too, for tools that call apply_chat_template.

    python3 bench/make_proxy_model.py OUT_DIR [--layers 4] [--config-only] [--tiny]

--config-only writes config.json alone (for `modelforge plan --set model.config_path=...`);
--no-weights writes config.json, generation_config.json and the tokenizer (for `vllm serve --load-format dummy`);
--tiny shrinks every width (CPU smoke tests of the harness; not a benchmark shape).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: builder/ (stdlib-only module)
from textgen import corpus  # noqa: E402

from builder.facts.models import CATALOG  # noqa: E402

MODEL_ID = "Qwen/Qwen3-30B-A3B-Thinking-2507"

QWEN3_VOCAB = CATALOG[MODEL_ID]["vocab_size"]
FIRST_SPECIAL = 151643
# Qwen3's added tokens, in id order from 151643 (tokenizer_config.json of Qwen3-30B-A3B-Thinking-2507).
SPECIALS = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
]

# Qwen3-Thinking-2507-style chat template (single- and multi-turn; the generation prompt opens <think>).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- set content = message['content'] %}"
    "{%- if '</think>' in content and not loop.last %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}"
    "{%- endif %}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}"
)


def model_config(layers: int, tiny: bool) -> dict:
    # The layer shape is the planner's own catalog entry (one table), cut to `layers` decoder layers.
    cfg = dict(
        architectures=["Qwen3MoeForCausalLM"],
        **CATALOG[MODEL_ID],
    )
    cfg.update(
        num_hidden_layers=layers,
        rope_theta=10000000.0,
        rms_norm_eps=1e-6,
        norm_topk_prob=True,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        output_router_logits=False,
        router_aux_loss_coef=0.001,
        attention_bias=False,
        attention_dropout=0.0,
        hidden_act="silu",
        initializer_range=0.02,
        bos_token_id=FIRST_SPECIAL,
        eos_token_id=FIRST_SPECIAL + 2,
        pad_token_id=FIRST_SPECIAL,
        use_cache=True,
        torch_dtype="bfloat16",
        dtype="bfloat16",
    )
    if tiny:
        cfg.update(
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            num_experts=8,
            num_experts_per_tok=2,
            moe_intermediate_size=32,
            intermediate_size=128,
        )
    return cfg


def build_tokenizer(out: Path, bpe_vocab: int = 16000):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # 1. Train a byte-level BPE on generated text (deterministic: fixed seed, one thread's order).
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=bpe_vocab, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus(seed=1234, n_docs=3000), trainer=trainer)

    # 2. Pad the BPE vocabulary with unreachable filler entries so the specials land on Qwen3's ids.
    state = json.loads(tok.to_str())
    vocab = state["model"]["vocab"]
    n = len(vocab)
    assert n <= FIRST_SPECIAL, n
    for i in range(n, FIRST_SPECIAL):
        vocab[f"<|filler_{i}|>"] = i  # never produced: no merge builds it, '<' and '|' split first
    state["model"]["vocab"] = vocab
    tok = Tokenizer.from_str(json.dumps(state))
    from tokenizers import AddedToken

    for i, (content, special) in enumerate(SPECIALS):
        tok.add_special_tokens([AddedToken(content, special=special, normalized=False)])
        assert tok.token_to_id(content) == FIRST_SPECIAL + i, (content, tok.token_to_id(content))

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=262144,
        clean_up_tokenization_spaces=False,
        additional_special_tokens=[s for s, special in SPECIALS if special],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


GENERATION = dict(
    bos_token_id=FIRST_SPECIAL,
    eos_token_id=[FIRST_SPECIAL + 2, FIRST_SPECIAL],
    pad_token_id=FIRST_SPECIAL,
    do_sample=True,
    temperature=0.6,
    top_p=0.95,
    top_k=20,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--config-only", action="store_true")
    ap.add_argument("--no-weights", action="store_true")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model_config(args.layers, args.tiny)
    if args.config_only:
        (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        print(f"wrote {out / 'config.json'}")
        return
    if args.no_weights:
        build_tokenizer(out)
        (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        (out / "generation_config.json").write_text(json.dumps(GENERATION, indent=2) + "\n")
        print(json.dumps({"out": str(out), "layers": args.layers, "weights": None}))
        return

    import torch
    from transformers import GenerationConfig, Qwen3MoeConfig, Qwen3MoeForCausalLM

    build_tokenizer(out)
    config = Qwen3MoeConfig(
        **{k: v for k, v in cfg.items() if k not in ("architectures", "model_type", "torch_dtype", "dtype")}
    )
    config.architectures = cfg["architectures"]
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen3MoeForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(**GENERATION)
    model.save_pretrained(out, max_shard_size="5GB")
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": str(out), "layers": args.layers, "params": n, "device": device}))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
