#!/usr/bin/env python3
# Fusion weights for hybrid search by 5-fold cross-validation on phone-queries-dev.json (issue 4).
# Input: the dump written by Program.cs (python3 cv.py dump.json). Metrics as in bench/ShopGpt.Bench.Search.
# Selection criterion (fixed beforehand): the mean of P@5 lvl2, P@5 lvl1 and NDCG@10.
import sys
import json, math
mean=lambda a: sum(a)/len(a)
D=json.load(open(sys.argv[1] if len(sys.argv) > 1 else 'dump.json')); ids=D['ids']; paths=D['paths']; Q=D['queries']
idx={p:i for i,p in enumerate(ids)}
def metrics(q, ranked):
    lvl1,lvl2=q['lvl1'],q['lvl2']
    g=[2 if paths[i].startswith(lvl2 or lvl1) else 1 if paths[i].startswith(lvl1) else 0 for i in ranked[:10]]
    p2 = sum(1 for x in g[:5] if x==2)/5 if lvl2 else None
    p1 = sum(1 for x in g[:5] if x>=1)/5
    dcg=lambda gg: sum((2**x-1)/math.log2(i+2) for i,x in enumerate(gg))
    ideal=[2 if i<min(q['exact'],10) else 1 for i in range(10)]
    return p2,p1,dcg(g)/dcg(ideal)
def agg(rows):
    p2=[r[0] for r in rows if r[0] is not None]; return (mean(p2), mean([r[1] for r in rows]), mean([r[2] for r in rows]))
def lex_list(q,n=50): return [idx[l[0]] for l in q['lex'][:n]]
def sem_list(q,n=50):
    c=q['cos']; o=sorted(range(len(c)), key=lambda i:-c[i]); return [i for i in o[:n] if c[i]>-1.5]
def rrf(lists, ws, k=60):
    s={}
    for L,w in zip(lists,ws):
        for r,i in enumerate(L): s[i]=s.get(i,0)+w/(k+r+1)
    return [i for i,_ in sorted(s.items(), key=lambda x:(-x[1], ids[x[0]]))]
def run(f, qs=Q): return agg([metrics(q,f(q)) for q in qs])

import random
def lexscores(q): return {idx[l[0]]: l[1]+l[2]+l[3] for l in q['lex']}
def cands(q, n=50): return list(dict.fromkeys(lex_list(q,n)+sem_list(q,n)))
def convex(alpha, n=50, norm_cos=False):
    def f(q):
        L=lexscores(q); C=cands(q,n); c=q['cos']
        mL=max([L.get(i,0) for i in C]+[1e-9])
        cs=[c[i] for i in C]; lo,hi=min(cs),max(cs)
        def cn(i): return (c[i]-lo)/(hi-lo+1e-9) if norm_cos else c[i]
        return sorted(C, key=lambda i:(-(alpha*L.get(i,0)/mL+(1-alpha)*cn(i)), ids[i]))
    return f
def union_rrf(w, k=60, n=50):
    def f(q):
        L=lexscores(q); C=cands(q,n); c=q['cos']
        lr=sorted(C,key=lambda i:(-L.get(i,0), ids[i])); sr=sorted(C,key=lambda i:(-c[i], ids[i]))
        return rrf([lr,sr],[1,w],k)
    return f
def wrrf(w,k=60): return lambda q: rrf([lex_list(q),sem_list(q)],[1,w],k)

def cat2(i): return ' > '.join(paths[i].split(' > ')[:2])
def hyb(w, g, k=60, n=50, top=20):
    def f(q):
        lex=lex_list(q,n); sem=sem_list(q,n); C=list(dict.fromkeys(lex+sem)); c=q['cos']
        lr={i:r for r,i in enumerate(lex)}
        s={i: 1/(k+lr.get(i,len(lex))+1) for i in C}
        for r,i in enumerate(sorted(C,key=lambda i:(-c[i], ids[i]))): s[i]+=w/(k+r+1)
        order=sorted(C,key=lambda i:(-s[i],ids[i]))
        votes={}
        for r,i in enumerate(order[:top]): votes[cat2(i)]=votes.get(cat2(i),0)+1/(k+r+1)
        tot=sum(votes.values()) or 1
        return sorted(C,key=lambda i:(-(s[i]+g*votes.get(cat2(i),0)/tot/(k+1)), ids[i]))
    return f
W=[0.3,0.5,0.7,1.0]; G=[0,0.5,1,2,4]
per={}
for w in W:
  for g in G:
    per[(w,g)]=[metrics(q,hyb(w,g)(q)) for q in Q]
    print(w,g,tuple(round(x,3) for x in agg(per[(w,g)])))
# selection criterion: mean of the three metrics (a priori)
def crit(rows): a=agg(rows); return sum(a)/3
random.seed(7); order=list(range(len(Q))); random.shuffle(order)
K=5; folds=[order[f::K] for f in range(K)]
oof=[None]*len(Q); chosen=[]
for f in range(K):
    test=set(folds[f]); train=[i for i in range(len(Q)) if i not in test]
    best=max(per, key=lambda p: crit([per[p][i] for i in train])); chosen.append(best)
    for i in test: oof[i]=per[best][i]
print('chosen per fold', chosen)
print('out-of-fold', tuple(round(x,3) for x in agg(oof)))
print('full-set choice', max(per, key=lambda p: crit(per[p])))

# Ablations

def single_vote(which, g=2, k=60, top=20):
    def f(q):
        L = lex_list(q,50) if which=='lex' else sem_list(q,50)
        s={i:1/(k+r+1) for r,i in enumerate(L)}
        votes={}
        for r,i in enumerate(L[:top]): votes[cat2(i)]=votes.get(cat2(i),0)+1/(k+r+1)
        tot=sum(votes.values()) or 1
        return sorted(L,key=lambda i:(-(s[i]+g*votes.get(cat2(i),0)/tot/(k+1)), ids[i]))
    return f
for w in ('lex','sem'):
    print(w,'+vote', tuple(round(x,3) for x in agg([metrics(q,single_vote(w)(q)) for q in Q])))
print('union rrf w=0.5 no vote', tuple(round(x,3) for x in agg([metrics(q,hyb(0.5,0)(q)) for q in Q])))
print('union rrf w=1 no vote', tuple(round(x,3) for x in agg([metrics(q,hyb(1.0,0)(q)) for q in Q])))
print('chosen', tuple(round(x,3) for x in agg([metrics(q,hyb(0.5,2)(q)) for q in Q])))
for a in (0.2, 0.5, 0.8):
    print('weighted sum', a, '(lexical/max + cosine)', tuple(round(x,3) for x in agg([metrics(q,convex(a)(q)) for q in Q])),
          'min-max cosine', tuple(round(x,3) for x in agg([metrics(q,convex(a,norm_cos=True)(q)) for q in Q])))
