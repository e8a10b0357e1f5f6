# MLT on the 50 capital facts: 10,641,408 parameters (docs/STUDY.md §2-3)
out_dir = 'out/facts_mlt'
dataset = 'facts_char'
n_layer = 6
n_head = 6
n_embd = 384
mlp_expansion = 4
dropout = 0.2
weight_decay = 0.1
learning_rate = 1e-5
min_lr = 1e-6
