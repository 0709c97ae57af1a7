"""Small torch modules for the torch tests, importable by name so that pickle finds them."""

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


class MLP(nn.Module):
    """64 -> hidden -> 10 with dropout: the penultimate layer is ``relu(hidden(x))``."""

    def __init__(self, n_in=64, hidden=16, n_out=10, p=0.25):
        super().__init__()
        self.hidden = nn.Linear(n_in, hidden)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.hidden(x))))


class BatchNormMLP(nn.Module):
    """With BatchNorm, which MC dropout must leave in eval mode, and a frozen parameter."""

    def __init__(self, n_in=64, hidden=12, n_out=10, p=0.3):
        super().__init__()
        self.hidden = nn.Linear(n_in, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.norm(self.hidden(x)))))


class NoDropout(nn.Module):
    def __init__(self, n_in=64, hidden=8, n_out=10, p=0.0):
        super().__init__()
        self.hidden = nn.Linear(n_in, hidden)
        self.drop = nn.Dropout(p)  # p = 0: deterministic all the same
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.hidden(x))))
