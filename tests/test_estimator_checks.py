"""scikit-learn's own estimator checks, over the learner with several inner estimators."""

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from activekit import ActiveLearningClassifier, ActiveLearningRegressor


@parametrize_with_checks(
    [
        ActiveLearningClassifier(),
        ActiveLearningClassifier(HistGradientBoostingClassifier(max_iter=10)),
        ActiveLearningClassifier(make_pipeline(StandardScaler(), LogisticRegression())),
        ActiveLearningClassifier(query_strategy="entropy", batch_size=3),
        ActiveLearningRegressor(),
        ActiveLearningRegressor(query_strategy="igs", batch_size=3),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
