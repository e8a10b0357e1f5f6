# n14 on the 50 capital facts: 1,932 parameters (SPEC §2-3)
out_dir = 'out/facts_mini_14'
dataset = 'facts_char'
batch_size = 576
block_size = 24
n_embd = 14
