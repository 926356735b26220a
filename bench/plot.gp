# Durable message sends, chatd vs PostgreSQL: throughput and latency vs
# concurrency. Called by bench/peers/compare.py:
#   gnuplot -e "datafile='X.dat'; outfile='X.png'; plottitle='...'" bench/plot.gp
# Data columns (medians with min and max of the runs): 1 clients;
# 2-4 chatd p50, 5-7 chatd p99, 8-10 PostgreSQL p50, 11-13 PostgreSQL p99
# (ms); 14-16 chatd sends/s, 17-19 PostgreSQL transactions/s.
if (!exists("datafile")) datafile = 'latency.dat'
if (!exists("outfile")) outfile = 'perf-latency.png'
if (!exists("plottitle")) plottitle = 'Durable message sends, chatd vs PostgreSQL'

set terminal pngcairo size 1100,520 enhanced font 'DejaVu Sans,10'
set output outfile
set multiplot layout 1,2 title plottitle font ',12'
set logscale x 2
set xrange [0.7:90]
set xtics (1, 16, 64)
set xlabel 'concurrent keep-alive clients'
set grid xtics ytics mytics
set bars 2
chatd = '#1f77b4'
pg = '#d62728'

set title 'latency per send (error bars: min-max of the runs)'
set ylabel 'ms (log scale)'
set logscale y 10
set key top left box opaque
plot datafile using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb chatd title 'chatd p50', \
     datafile using 1:5:6:7 with yerrorlines lw 2 pt 5 dt 2 lc rgb chatd title 'chatd p99', \
     datafile using 1:8:9:10 with yerrorlines lw 2 pt 7 lc rgb pg title 'PostgreSQL p50', \
     datafile using 1:11:12:13 with yerrorlines lw 2 pt 5 dt 2 lc rgb pg title 'PostgreSQL p99'

set title 'throughput'
set ylabel 'durable sends per second (log scale)'
set key top left box opaque
plot datafile using 1:14:15:16 with yerrorlines lw 2 pt 7 lc rgb chatd title 'chatd', \
     datafile using 1:17:18:19 with yerrorlines lw 2 pt 7 lc rgb pg title 'PostgreSQL 15'
unset multiplot
