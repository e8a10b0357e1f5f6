# n56 on arithmetic and facts jointly: 22,680 parameters (SPEC §2-3)
out_dir = 'out/both_mini_56'
dataset = 'both_math_and_facts'
batch_size = 576
block_size = 24
n_embd = 56
