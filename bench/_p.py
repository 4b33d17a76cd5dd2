import cProfile, pstats, os, sys, time, statistics
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()
from django.contrib.auth.models import User
from django.test import Client
path = sys.argv[1]
c = Client(HTTP_HOST="127.0.0.1")
c.force_login(User.objects.get(username="admin"))
for _ in range(3): c.get(path)
ts=[]
for _ in range(20):
    s=time.perf_counter(); c.get(path); ts.append((time.perf_counter()-s)*1000)
print(path, "median ms", round(statistics.median(ts),1), "min", round(min(ts),1))
if "--profile" in sys.argv:
    p = cProfile.Profile(); p.enable()
    for _ in range(10): c.get(path)
    p.disable()
    pstats.Stats(p).sort_stats(sys.argv[3] if len(sys.argv)>3 else "tottime").print_stats(30)
if "--callers" in sys.argv:
    st = pstats.Stats(p); st.print_callers(sys.argv[sys.argv.index("--callers")+1])
