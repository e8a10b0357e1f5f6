"""
nanoGPT's GPT (Karpathy, github.com/karpathy/nanoGPT), trimmed to what this study
uses, plus one knob: `mlp_expansion` sets the MLP hidden size to m * n_embd
(nanoGPT fixes m = 4). Class, method and state-dict names are nanoGPT's, so
checkpoints stay interchangeable with nanoGPT tooling.
"""
import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise ValueError(f"n_embd={config.n_embd} is not divisible by n_head={config.n_head}")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        # the attention pattern (B, nh, T, T) passes through here: a forward hook on it reads
        # it (toobig/interp/inside.py), or replaces it (ablation, activation patching); it has no parameters
        self.pattern = nn.Identity()
        self.n_head = config.n_head
        self.n_embd = config.n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        # nanoGPT's manual attention, not its flash path: for blocks of 9-24 tokens it makes
        # a compiled CPU run faster (docs/SPEED.md), its CUDA backward is
        # deterministic (cuDNN's is not), and torch.func.vmap batches it (toobig/training/stacked.py)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = self.pattern(att.masked_fill(~causal, float('-inf')).softmax(dim=-1))
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        hidden = config.mlp_expansion * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


@dataclass
class GPTConfig:
    """The model's shape; the defaults are the paper's n14 arithmetic model (docs/STUDY.md §2)."""
    block_size: int = 9
    vocab_size: int = 17
    n_layer: int = 1
    n_head: int = 1
    n_embd: int = 14
    dropout: float = 0.0
    bias: bool = False
    mlp_expansion: int = 1


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        """Parameter count; position embeddings are left out by default, as in nanoGPT.
        The token embeddings stay in: they are tied to the output head."""
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        if t > self.config.block_size:
            raise ValueError(f"sequence of length {t} exceeds block_size {self.config.block_size}")
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        # Logits at every position, also when sampling (nanoGPT computes only the last one
        # there): the evaluation reads each prompt's own last position from a right-padded
        # batch, and with a vocabulary of 17-66 the extra positions cost next to nothing.
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type, decay_gains=False):
        # 2-D tensors (matmul weights, embeddings) decay; gains and biases do not, unless decay_gains
        # (the weight-norm experiments: undecayed gains grow to make up for decayed matrices)
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for p in param_dict.values() if p.dim() >= 2]
        nodecay_params = [p for p in param_dict.values() if p.dim() < 2]
        optim_groups = [
            {'params': decay_params, 'weight_decay': weight_decay},
            {'params': nodecay_params, 'weight_decay': weight_decay if decay_gains else 0.0},
        ]
        # the fused kernel (torch >= 2.4 has it on both): one launch for all parameters (CUDA), one loop (CPU)
        use_fused = device_type in ('cuda', 'cpu')
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas,
                                 **({'fused': True} if use_fused else {}))
