# n56 on the 50 capital facts: 21,840 parameters (SPEC §2-3)
out_dir = 'out/facts_mini_56'
dataset = 'facts_char'
batch_size = 576
block_size = 24
n_embd = 56
