# n28 on arithmetic and facts jointly: 6,636 parameters (SPEC §2-3)
out_dir = 'out/both_mini_28'
dataset = 'both_math_and_facts'
batch_size = 576
block_size = 24
n_embd = 28
