#!/usr/bin/env python3
"""PyTorch reference of mbarl-learn's ALM update, for the tch-vs-Python benchmark.

Same architecture, same losses, same optimisers, same freezing, same number of host reads per
update as `AlmAgent::update` in crates/mbarl-learn/src/alm.rs (see that file's module docs).
Written the way a PyTorch user would: nn.Module, torch.optim.Adam, clip_grad_norm_.

Implementation choices of the tch side that this straightforward version does not copy (they
leave the update's distribution unchanged): one target-encoder pass over s_0..s_K instead of
s_1..s_K plus s_0 and s_1 again; imagined steps evaluate only the randomly picked ensemble
member of each row instead of all members; the ensemble's first layer is one matmul on the
shared input; a single-pass Adam on the CPU; glibc malloc thresholds raised in-process (the
benchmark also runs this script with the same thresholds through GLIBC_TUNABLES).

    python alm_reference.py --config '<json from bench_alm>' --threads 1 --updates 20

prints `updates_per_s <float>` on its last line.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(inp, hidden, out, act=nn.ELU):
    layers, d = [], inp
    for h in hidden:
        layers += [nn.Linear(d, h), act()]
        d = h
    layers.append(nn.Linear(d, out))
    return nn.Sequential(*layers)


class EnsembleLinear(nn.Module):
    def __init__(self, members, inp, out):
        super().__init__()
        b = 1.0 / math.sqrt(inp)
        self.weight = nn.Parameter(torch.empty(members, inp, out).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(members, 1, out).uniform_(-b, b))

    def forward(self, x):
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMlp(nn.Module):
    def __init__(self, members, inp, hidden, out):
        super().__init__()
        dims = [inp] + list(hidden) + [out]
        self.layers = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        x = self.layers[0](x)
        for layer in self.layers[1:]:
            x = layer(F.elu(x))
        return x


class Gaussian:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def rsample(self):
        return self.mean + self.std * torch.randn_like(self.mean)

    def kl(self, other):
        var_ratio = (self.std / other.std).pow(2)
        t1 = ((self.mean - other.mean) / other.std).pow(2)
        return (0.5 * (var_ratio + t1 - 1 - var_ratio.log())).sum(-1)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        o, e = c["obs"], c["encoder"]
        self.mode, self.z, self.min_std = o["mode"], e["latent_dim"], e["min_std"]
        if self.mode == "state":
            self.mlp = mlp(o["state_dim"] + o["proprio_dim"], e["hidden"], 2 * self.z)
        else:
            convs, cin = [], 3
            h, w = o["frame_height"], o["frame_width"]
            for ch in e["conv_channels"]:
                convs.append(nn.Conv2d(cin, ch, e["conv_kernel"], stride=e["conv_stride"]))
                cin = ch
                h = (h - e["conv_kernel"]) // e["conv_stride"] + 1
                w = (w - e["conv_kernel"]) // e["conv_stride"] + 1
            self.convs = nn.ModuleList(convs)
            self.fc = nn.Linear(cin * h * w, e["image_feature_dim"])
            self.ln = nn.LayerNorm(e["image_feature_dim"])
            self.proprio = nn.Linear(o["proprio_dim"], e["proprio_feature_dim"]) if o["proprio_dim"] else None
            fused = e["image_feature_dim"] + (e["proprio_feature_dim"] if o["proprio_dim"] else 0)
            self.trunk = mlp(fused, e["hidden"], 2 * self.z)

    def forward(self, obs):
        if self.mode == "state":
            x = obs["state"] if obs.get("proprio") is None else torch.cat([obs["state"], obs["proprio"]], -1)
            lead, raw = x.shape[:-1], self.mlp(x)
        else:
            frames = obs["frames"]
            lead = frames.shape[:-3]
            x = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0
            for conv in self.convs:
                x = F.relu(conv(x))
            feat = torch.tanh(self.ln(self.fc(x.flatten(1))))
            if self.proprio is not None:
                p = obs["proprio"].reshape(-1, obs["proprio"].shape[-1])
                feat = torch.cat([feat, F.elu(self.proprio(p))], -1)
            raw = self.trunk(feat)
        raw = raw.reshape(*lead, 2 * self.z)
        mean, s = raw.chunk(2, -1)
        return Gaussian(mean, F.softplus(s) + self.min_std)


class LatentModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        z, a, m = c["encoder"]["latent_dim"], c["obs"]["action_dim"], c["model"]
        self.e = m["ensemble_size"]
        self.net = EnsembleMlp(self.e, z + a, m["hidden"], 2 * z)
        self.min_std, self.max_std = m["min_std"], m["max_std"]

    def forward(self, z, a):
        x = torch.cat([z, a], -1)
        x = x.unsqueeze(0).expand(self.e, x.shape[0], -1)
        mean, s = self.net(x).chunk(2, -1)
        return Gaussian(mean + z.unsqueeze(0), torch.sigmoid(s) * (self.max_std - self.min_std) + self.min_std)

    @staticmethod
    def pick_member(g):
        e, b, z = g.mean.shape
        idx = torch.randint(e, (1, b, 1)).expand(1, b, z)
        return Gaussian(g.mean.gather(0, idx).squeeze(0), g.std.gather(0, idx).squeeze(0))


class RewardHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.net = mlp(c["encoder"]["latent_dim"] + c["obs"]["action_dim"], c["reward_head"]["hidden"], 1)

    def forward(self, z, a):
        return self.net(torch.cat([z, a], -1)).squeeze(-1)


class LatentClassifier(nn.Module):
    def __init__(self, c):
        super().__init__()
        z, a = c["encoder"]["latent_dim"], c["obs"]["action_dim"]
        self.net = mlp(2 * z + a, c["latent_classifier"]["hidden"], 1)

    def forward(self, z, a, zn):
        return self.net(torch.cat([z, a, zn], -1)).squeeze(-1)


class Actor(nn.Module):
    def __init__(self, c):
        super().__init__()
        z, a, ac = c["encoder"]["latent_dim"], c["obs"]["action_dim"], c["actor"]
        self.net = mlp(z, ac["hidden"], 2 * a)
        self.lo, self.hi = ac["log_std_min"], ac["log_std_max"]

    def rsample(self, z):
        mean, s = self.net(z).chunk(2, -1)
        log_std = (torch.tanh(s) + 1) * (0.5 * (self.hi - self.lo)) + self.lo
        eps = torch.randn_like(mean)
        u = mean + log_std.exp() * eps
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        correction = 2 * (F.softplus(-2 * u) + u - math.log(2)).sum(-1)
        return torch.tanh(u), log_prob + correction


class TwinCritic(nn.Module):
    def __init__(self, c):
        super().__init__()
        z, a = c["encoder"]["latent_dim"], c["obs"]["action_dim"]
        self.net = EnsembleMlp(2, z + a, c["critic"]["hidden"], 1)

    def forward(self, z, a):
        x = torch.cat([z, a], -1)
        lead = x.shape[:-1]
        x = x.reshape(1, -1, x.shape[-1]).expand(2, -1, -1)
        return self.net(x).reshape(2, *lead)

    def min_q(self, z, a):
        return self.forward(z, a).amin(0)


class frozen:
    """Like ALM's FreezeParameters: no parameter gradients inside the block."""

    def __init__(self, module):
        self.params = list(module.parameters())

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)


def finite(t, what):
    v = t.item()
    if not math.isfinite(v):
        raise FloatingPointError(f"non-finite {what}: {v}")
    return v


class Alm:
    def __init__(self, c):
        self.c, a = c, c["alm"]
        self.encoder, self.encoder_target = Encoder(c), Encoder(c)
        self.encoder_target.load_state_dict(self.encoder.state_dict())
        self.encoder_target.requires_grad_(False)
        self.model, self.reward, self.classifier = LatentModel(c), RewardHead(c), LatentClassifier(c)
        self.actor, self.critic, self.critic_target = Actor(c), TwinCritic(c), TwinCritic(c)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(a["init_alpha"]), requires_grad=True)
        self.target_entropy = a["target_entropy"] if a["target_entropy"] is not None else -c["obs"]["action_dim"]
        adam = torch.optim.Adam
        self.encoder_opt = adam(self.encoder.parameters(), lr=a["model_lr"])
        self.model_opt = adam(self.model.parameters(), lr=a["model_lr"])
        self.reward_opt = adam(self.reward.parameters(), lr=a["reward_lr"])
        self.classifier_opt = adam(self.classifier.parameters(), lr=a["reward_lr"])
        self.actor_opt = adam(self.actor.parameters(), lr=a["actor_lr"])
        self.critic_opt = adam(self.critic.parameters(), lr=a["critic_lr"])
        self.alpha_opt = adam([self.log_alpha], lr=a["alpha_lr"])

    def clip(self, module):
        if self.c["alm"]["grad_clip_norm"] > 0:
            nn.utils.clip_grad_norm_(module.parameters(), self.c["alm"]["grad_clip_norm"])

    def update_model(self, obs, actions):
        k, b = actions.shape[0], actions.shape[1]
        with torch.no_grad():
            nxt = {key: v[1:].flatten(0, 1) for key, v in obs.items()}
            t = self.encoder_target(nxt)
            t_mean, t_std = t.mean.reshape(k, b, -1), t.std.reshape(k, b, -1)
        with frozen(self.reward):
            z = self.encoder({key: v[0] for key, v in obs.items()}).rsample()
            loss = torch.zeros(b)
            kl_sum = torch.zeros(())
            for i in range(k):
                a = actions[i]
                prior = self.model(z, a)
                kl = prior.kl(Gaussian(t_mean[i].unsqueeze(0), t_std[i].unsqueeze(0))).mean(0)
                loss = loss + kl - self.reward(z, a)
                kl_sum = kl_sum + kl.detach().mean()
                z = LatentModel.pick_member(prior).rsample()
            if self.c["alm"]["value_in_model_loss"]:
                with frozen(self.actor), frozen(self.critic):
                    a, _ = self.actor.rsample(z)
                    loss = loss - self.critic.min_q(z, a)
            loss = loss.mean()
        lv = finite(loss, "model loss")
        self.encoder_opt.zero_grad()
        self.model_opt.zero_grad()
        loss.backward()
        self.clip(self.encoder)
        self.clip(self.model)
        self.encoder_opt.step()
        self.model_opt.step()
        return lv, (kl_sum / k).item()

    def update_heads(self, z, a, r, zn):
        reward_loss = F.mse_loss(self.reward(z, a), r)
        with torch.no_grad():
            fake = LatentModel.pick_member(self.model(z, a)).rsample()
        b = z.shape[0]
        labels = torch.cat([torch.ones(b), torch.zeros(b)])
        logits = self.classifier(torch.cat([z, z]), torch.cat([a, a]), torch.cat([zn, fake]))
        clf_loss = F.binary_cross_entropy_with_logits(logits, labels)
        rv, cv = finite(reward_loss, "reward loss"), finite(clf_loss, "classifier loss")
        self.reward_opt.zero_grad()
        self.classifier_opt.zero_grad()
        (reward_loss + clf_loss).backward()
        self.clip(self.reward)
        self.clip(self.classifier)
        self.reward_opt.step()
        self.classifier_opt.step()
        return rv, cv

    def update_policy(self, z, a_real, r_real, zn, done):
        cfg = self.c["alm"]
        gamma = cfg["gamma"]
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, logp2 = self.actor.rsample(zn)
            v2 = self.critic_target.min_q(zn, a2) - alpha * logp2
            target = r_real + (1 - done) * gamma * v2
        q = self.critic(z, a_real)
        critic_loss = (q - target.unsqueeze(0)).pow(2).mean()
        cl = finite(critic_loss, "critic loss")
        q_mean = q.detach().mean().item()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.clip(self.critic)
        self.critic_opt.step()

        with frozen(self.model), frozen(self.reward), frozen(self.classifier), frozen(self.critic):
            h, lam = cfg["horizon"], cfg["lambda"]
            zt = z.detach()
            rewards, values, logp0 = [], [], None
            for t in range(h):
                a, logp = self.actor.rsample(zt)
                z_next = LatentModel.pick_member(self.model(zt, a)).rsample()
                rt = self.reward(zt, a) - alpha * logp
                if cfg["classifier_bonus"] != 0:
                    rt = rt + self.classifier(zt, a, z_next.detach()) * cfg["classifier_bonus"]
                if t > 0:
                    values.append(self.critic.min_q(zt, a) - alpha * logp)
                else:
                    values.append(torch.zeros_like(logp))
                    logp0 = logp.detach()
                rewards.append(rt)
                zt = z_next
            a, logp = self.actor.rsample(zt)
            values.append(self.critic.min_q(zt, a) - alpha * logp)
            ret = values[h]
            actor_loss = torch.zeros(())
            for t in reversed(range(h)):
                ret = rewards[t] + (values[t + 1] * (1 - lam) + ret * lam) * gamma
                actor_loss = actor_loss - ret.mean() * gamma ** t
            actor_loss = actor_loss / h
        al = finite(actor_loss, "actor loss")
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.clip(self.actor)
        self.actor_opt.step()

        if cfg["learn_alpha"]:
            alpha_loss = -(self.log_alpha * (logp0 + self.target_entropy)).mean()
            finite(alpha_loss, "alpha loss")
            self.alpha_opt.zero_grad()
            alpha_loss.backward()
            self.alpha_opt.step()

        with torch.no_grad():
            for t, s in zip(self.critic_target.parameters(), self.critic.parameters()):
                t.lerp_(s, cfg["tau"])
        return cl, al, self.log_alpha.exp().item(), q_mean

    def update(self, batch):
        obs, actions, rewards, dones = batch
        stats = self.update_model(obs, actions)
        with torch.no_grad():
            z = self.encoder_target({k: v[0] for k, v in obs.items()}).rsample()
            zn = self.encoder_target({k: v[1] for k, v in obs.items()}).rsample()
        stats += self.update_heads(z, actions[0], rewards[0], zn)
        stats += self.update_policy(z, actions[0], rewards[0], zn, dones[0])
        with torch.no_grad():
            for t, s in zip(self.encoder_target.parameters(), self.encoder.parameters()):
                t.lerp_(s, self.c["alm"]["tau"])
        return stats


def random_batch(c, b):
    k, o = c["alm"]["seq_len"], c["obs"]
    obs = {}
    if o["mode"] == "state":
        obs["state"] = torch.randn(k + 1, b, o["state_dim"])
    else:
        obs["frames"] = torch.randint(0, 256, (k + 1, b, o["frame_height"], o["frame_width"], 3), dtype=torch.uint8)
    if o["proprio_dim"]:
        obs["proprio"] = torch.randn(k + 1, b, o["proprio_dim"])
    actions = torch.rand(k, b, o["action_dim"]) * 2 - 1
    return obs, actions, torch.randn(k, b), torch.zeros(k, b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="LearnConfig as JSON (from bench_alm)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--updates", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="report the best of this many rounds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c = json.loads(args.config)
    agent = Alm(c)
    batch = random_batch(c, c["alm"]["batch_size"])
    for _ in range(args.warmup):
        agent.update(batch)
    best = 0.0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.updates):
            agent.update(batch)
        best = max(best, args.updates / (time.perf_counter() - t0))
    print(f"torch {torch.__version__} threads {torch.get_num_threads()}")
    print(f"updates_per_s {best:.4f}")


if __name__ == "__main__":
    main()
