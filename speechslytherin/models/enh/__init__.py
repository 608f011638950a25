"""Speech enhancement models: SEMamba (advanced / basic, causal or not), the MP-SENet
Transformer counterpart, the MetricGAN discriminator and PCS post-processing."""
