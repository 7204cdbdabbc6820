"""Experience as training data, and the LoRA trainer (extra: `agentevo[train]`).

conversation.py  a trajectory as the conversation the model saw (prompt, then reply/observation turns)
formats.py       conversations as OpenAI, TRL, ShareGPT and DPO rows
split.py         train/test splits grouped by template or task, and the overlap check
card.py          the data card (JSON + Markdown) written beside every export
export.py        the exporter: store → conversations → split → files, written atomically
data.py          reading exported files back and tokenising them with completion-only labels
lora.py          the SFT trainer (peft LoRA, CPU or CUDA) and the adapter it writes
dpo.py           preference training through TRL's DPOTrainer
evaluate.py      paired evaluation of an adapter against its base on held-out tasks
commands.py      `agentevo export` and `agentevo train lora|eval`
"""
