"""FLAME (Li et al. 2017) without chumpy, scipy or pickle.load: safe model loading, evaluation, research
sequence import and ARKit → FLAME retargeting. The model file is always the user's (FLAME is licence-gated).

- ``loading``: read and validate a ``.pkl``/``.npz`` model (``safe_pickle`` is the restricted unpickler,
  ``pickle_scan`` its opcode dry run, ``pickle_numpy`` its checked numpy reconstructors, ``safe_npz`` the
  header-checking ``.npy``/``.npz`` reader, ``limits`` the caps they all enforce)
- ``model``: blend shapes, pose correctives and skinning (numpy; torch optional)
- ``channels``: the ``flame`` Animation space's channel names
- ``formats``: DECA/EMOCA/DiffPoseTalk/EMOTE sequences → Animations
- ``landmarks``, ``retarget``: landmark embeddings and the ARKit-52 → FLAME solver
"""
