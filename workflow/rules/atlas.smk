# Rules of the atlas stage.
