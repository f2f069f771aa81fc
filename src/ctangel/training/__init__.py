"""Training: data folders in CT-Angel's layout, augmentation, the loop. Imported only by ``ctangel train``."""
