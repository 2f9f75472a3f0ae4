from django.db import migrations

from recommendations.encoders.efficientnet import EfficientNetLite0
from recommendations.encoders.resnet import ResNet50
from recommendations.vector_index import hnsw_index_create_sql, hnsw_index_drop_sql


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunSQL(hnsw_index_create_sql(encoder), hnsw_index_drop_sql(encoder))
        for encoder in (EfficientNetLite0, ResNet50)
    ]
