"""Text-to-speech codec language models: VALL-E (attention) and VALL-M (Mamba), sharing
`codec_lm.CodecLM`."""
