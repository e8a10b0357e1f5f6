# n56 on arithmetic: 19,936 parameters (SPEC §2-3)
out_dir = 'out/math_mini_56'
dataset = 'as_math'
batch_size = 882
block_size = 9
n_embd = 56
