"""Packaging for modern_llm. Every field comes from settings.ini, nbdev's single source of truth.

No pkg_resources (setuptools 84 dropped it): requirements are split by hand.
"""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
bench_requirements = cfg.get('bench_requirements', '').split()
trackers_requirements = cfg.get('trackers_requirements', '').split()
docs_requirements = cfg.get('docs_requirements', '').split()
gpu_requirements = cfg.get('gpu_requirements', '').split()
eval_requirements = cfg.get('eval_requirements', '').split()
scripts = [s.strip() for s in cfg.get('console_scripts', '').split('\n') if s.strip()]
licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
lic = licenses[cfg['license']]
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license=lic[0],
    keywords=cfg['keywords'].split(),
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'License :: ' + lic[1],
                 'Natural Language :: ' + cfg['language'].title(),
                 'Programming Language :: Python :: 3'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['modern_llm', 'modern_llm.*']),
    include_package_data=True,
    package_data={'modern_llm': ['assets/*.jsonl', 'assets/*.json', 'assets/*.txt', 'assets/harness_tasks/*.yaml',
                                'assets/harness_tasks/*.jsonl', 'assets/nltk_data/tokenizers/punkt_tab/english/*']},
    install_requires=requirements,
    extras_require={'dev': dev_requirements, 'bench': bench_requirements, 'trackers': trackers_requirements,
                    'docs': docs_requirements,
                    'gpu': gpu_requirements, 'eval': eval_requirements},
    python_requires='>=' + cfg['min_python'],
    zip_safe=False,
    entry_points={'console_scripts': scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
