import os
# Tests never wait on the Hugging Face Hub: offline mode, as on CI.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
