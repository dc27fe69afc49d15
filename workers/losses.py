"""Loss terms of the prompt objective and of the CoA-weights (METHOD.md). Tensors in, out.

``L_prompt = CE + w * CoA + lambda * DOR (+ lambda_kg * KG) (+ lambda_visual * visual DOR)``,
averaged over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def coa_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Confusion-aware loss ``mean(1 - p_y)``, ``p = softmax(logits)``. (N, C), (N,) -> ()

    Its gradient on the true logit is ``-p_y (1 - p_y)``: largest for confused samples.
    """
    p_true = logits.softmax(dim=-1).gather(1, labels[:, None]).squeeze(1)  # (N,)
    return (1 - p_true).mean()


def dor_loss(tuned_feats: torch.Tensor, zero_shot_feats: torch.Tensor) -> torch.Tensor:
    """Dynamic outlier regularisation ``1 - mean cos(tuned, zero-shot)``. (B, E), (B, E) -> ()"""
    return 1 - F.cosine_similarity(tuned_feats, zero_shot_feats, dim=-1).mean()


def kg_loss(tuned_class_feats: torch.Tensor, zero_shot_class_feats: torch.Tensor) -> torch.Tensor:
    """KgCoOp's knowledge guidance: the same cosine term over the base class names."""
    return dor_loss(tuned_class_feats, zero_shot_class_feats)


def visual_dor_loss(adapted_feats: torch.Tensor, frozen_feats: torch.Tensor) -> torch.Tensor:
    """Visual DOR ``1 - mean cos(adapter(f_img(o)), f_img(o))`` over outlier images o: the
    adapter may not move images of classes outside the base set. (B, E), (B, E) -> ()"""
    return 1 - F.cosine_similarity(adapted_feats, frozen_feats, dim=-1).mean()


def divergence(tuned_class_feats: torch.Tensor, zero_shot_class_feats: torch.Tensor) -> float:
    """Textual divergence ``mean_c (1 - cos(f_tuned(c), f_zero_shot(c)))``: how far tuning
    moved a label set's text features (DOR's diagnostic). (C, E), (C, E) -> float"""
    return float(dor_loss(tuned_class_feats.float(), zero_shot_class_feats.float()))


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of ``softmax(logits)`` per row. (N, C) -> (N,)"""
    log_p = logits.log_softmax(dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def entropy_hinge(
    zero_shot_logits: torch.Tensor,
    specialized_logits: torch.Tensor,
    pi_specialized: torch.Tensor,
    *,
    margin: float,
) -> torch.Tensor:
    """``mean max(0, H(p_t0) - H(p_t1 scaled by pi_1) + d)`` over an out-class label set.

    zero_shot_logits, specialized_logits: (N, C_out) = s / tau; pi_specialized: () the
    out-group weight of the specialized prompt. Pushes the specialized prediction to be less
    confident than the generalized one on labels it never saw, by ``margin`` nats.
    """
    gap = entropy(zero_shot_logits) - entropy(pi_specialized * specialized_logits) + margin
    return F.relu(gap).mean()


def prompt_objective(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    w: float = 0.0,
    dor: torch.Tensor | None = None,
    lam: float = 0.0,
    kg: torch.Tensor | None = None,
    lam_kg: float = 0.0,
    visual_dor: torch.Tensor | None = None,
    lam_visual: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``CE + w * CoA + lam * DOR + lam_kg * KG + lam_visual * visual DOR`` and each term's
    value for logging: a term is there exactly when its weight is non-zero."""
    ce = F.cross_entropy(logits, labels)
    total = ce
    parts = {"loss_ce": ce.item()}
    if w:
        coa = coa_loss(logits, labels)
        total = total + w * coa
        parts["loss_coa"] = coa.item()
    if lam and dor is not None:
        total = total + lam * dor
        parts["loss_dor"] = dor.item()
    if lam_kg and kg is not None:
        total = total + lam_kg * kg
        parts["loss_kg"] = kg.item()
    if lam_visual and visual_dor is not None:
        total = total + lam_visual * visual_dor
        parts["loss_dor_visual"] = visual_dor.item()
    parts["loss"] = total.item()
    return total, parts
