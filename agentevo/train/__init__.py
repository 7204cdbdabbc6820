"""Experience as training data, and the LoRA trainer (extra: `agentevo[train]`).

conversation.py  a trajectory as the conversation the model saw (prompt, then reply/observation turns)
formats.py       conversations as OpenAI, TRL and ShareGPT rows
pairs.py         preference pairs (a success and a failure of one task) as TRL DPO rows
validate.py      the rules each format's readers enforce, checked before anything is written
split.py         train/test splits grouped by template or task, and the overlap check
card.py          the data card (JSON + Markdown) written beside every export
export.py        the exporter: store → conversations → split → files, written atomically
data.py          reading exported files back and tokenising them with completion-only labels
lora.py          the SFT loop (peft LoRA, CPU or CUDA), device and dtype choice, the adapter folder
dpo.py           preference training through TRL's DPOTrainer
trainer.py       `train lora`: data file in, adapter folder out (checks, progress, loss log, summary)
evaluate.py      paired evaluation of an adapter against its base on held-out tasks
"""
